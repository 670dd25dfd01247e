// Log rotation as logrotate's `create` mode does it: rename the file, send
// SIGHUP, and the daemon continues in a new file at the old path. A daemon
// writing without pause through console.log, process.stderr and logger()
// must lose no line and write none twice, across several rotations.
import { execFileSync } from 'node:child_process'
import { linkSync, lstatSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { daemonize, DaemonizeError, type Daemon } from '../src/index.js'
import { reload } from '../src/control/reload.js'
import { fixtures } from './helpers/caller.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { completeLines, completeText, readAll, tail } from './helpers/files.js'
import { until } from './helpers/wait.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

const writer = join(fixtures, 'daemon-writer.js')

let dir: string
beforeEach(() => {
  dir = scratchDir('nd-rotate-')
})

/** The complete lines the daemon has written so far (it is still writing). */
const read = completeText

/** Lines the writer wrote in one file, in order; the launcher's own lines left out. */
interface FileLines {
  numbers: number[]
  hups: number[]
  end?: number
  first?: string
}

function parse(text: string, daemon: Daemon): FileLines {
  const out: FileLines = { numbers: [], hups: [] }
  for (const line of text.split('\n')) {
    if (line === '') continue
    let m: RegExpExecArray | null
    if ((m = /^[ce] (\d+)$/.exec(line))) out.numbers.push(Number(m[1]))
    else if ((m = /^hup (\d+)$/.exec(line))) out.hups.push(Number(m[1]))
    else if ((m = /^end (\d+)$/.exec(line))) out.end = Number(m[1])
    else if (line.startsWith('{')) {
      const rec = JSON.parse(line) as { name?: string; n?: number; msg?: string; pid?: number; sid?: number }
      if (rec.name === 'node-daemonize') continue // the launcher's stage lines
      expect(rec).toMatchObject({ msg: 'p', pid: daemon.pid, sid: daemon.sid })
      out.numbers.push(rec.n as number)
    } else throw new Error(`unexpected line in the log: ${JSON.stringify(line)}`)
    out.first ??= line
  }
  return out
}

/** Wait until the file holds at least n of the writer's numbered lines. */
async function untilNumbers(path: string, daemon: Daemon, n: number): Promise<void> {
  await until(`${n} numbered lines in ${path}`, () => parse(read(path), daemon).numbers.length >= n, { seen: () => tail(path, 3) })
}

/** Rotate `rounds` times while the writer runs, stop it, and check every file. */
async function rotateAndCount(daemon: Daemon, log: string, rounds: number): Promise<void> {
  const files: string[] = []
  for (let k = 1; k <= rounds; k++) {
    // Let the current file take a good number of lines first.
    await untilNumbers(log, daemon, 300)
    const rotated = `${log}.${k}`
    renameSync(log, rotated)
    files.push(rotated)
    process.kill(daemon.pid, 'SIGHUP')
    await until(`"hup ${k}" in the new ${log}`, () => read(log).includes(`hup ${k}\n`), { seen: () => tail(log, 3) })
  }
  await untilNumbers(log, daemon, 300)
  files.push(log)
  process.kill(daemon.pid, 'SIGTERM')
  await until(`the writer's "end N" line in ${log}`, () => /^end \d+$/m.test(read(log)), { seen: () => tail(log, 3) })
  // Once it has exited nothing is half-written: read whole files, so a
  // line cut short would fail the parse.
  await untilGone(daemon.pid)

  const parsed = files.map((f) => parse(readAll(f), daemon))
  const total = parsed[parsed.length - 1].end as number
  const all = parsed.flatMap((p) => p.numbers)
  // None lost, none duplicated: every number from 0 to total-1, once.
  expect(all.length).toBe(total)
  expect(new Set(all).size).toBe(total)
  expect(Math.min(...all)).toBe(0)
  expect(Math.max(...all)).toBe(total - 1)
  // Each file holds one unbroken run, and no write went to an old file
  // after the reopen: file k ends right before file k+1 begins.
  for (let k = 0; k < parsed.length; k++) {
    const nums = parsed[k].numbers
    expect(nums.length).toBeGreaterThan(0)
    for (let i = 1; i < nums.length; i++) expect(nums[i]).toBe(nums[i - 1] + 1)
    if (k > 0) expect(nums[0]).toBe(parsed[k - 1].numbers[parsed[k - 1].numbers.length - 1] + 1)
  }
  // The daemon's own SIGHUP handler ran each time, after the reopen: its
  // line opens the new file.
  for (let k = 1; k < parsed.length; k++) {
    expect(parsed[k].hups).toEqual([k])
    expect(parsed[k].first).toBe(`hup ${k}`)
  }
  expect(parsed[0].hups).toEqual([])
  // The new file is created like the first one: 0640 under umask 022.
  expect(statSync(log).mode & 0o777).toBe(0o640)
}

describe('rename + SIGHUP', () => {
  it('the preload reopens the log: console.log, stderr and logger() all continue, no line lost or duplicated', async () => {
    const log = join(dir, 'app.log')
    const d = await daemonize({ entry: writer, logFile: log, waitReadyMs: 20_000 })
    track(d.pid)
    await rotateAndCount(d, log, 4)
  })

  it('without the preload, a daemon calling reopenLogs() itself gets the same', async () => {
    const log = join(dir, 'app.log')
    const d = await daemonize({ entry: writer, args: ['--reopen-myself'], logFile: log, waitReadyMs: 20_000, preload: false })
    track(d.pid)
    await rotateAndCount(d, log, 3)
  })

  // What someone may put where the log was; none is written through.
  const traps = [
    {
      what: 'a symbolic link',
      place: (log: string, target: string) => symlinkSync(target, log),
      error: { code: 'ELOOP', syscall: 'open' },
    },
    {
      what: 'a FIFO (which would block open(2) forever)',
      place: (log: string) => execFileSync('mkfifo', [log]),
      error: { code: 'ENXIO', syscall: 'open' },
    },
    {
      what: 'a hard link to another file',
      place: (log: string, target: string) => linkSync(target, log),
      error: { code: 'EMLINK', syscall: 'fstat' },
    },
  ]
  for (const trap of traps) {
    it(`a log path that cannot be reopened (${trap.what}): the daemon says why in the old file and keeps writing there`, async () => {
      const log = join(dir, 'app.log')
      const d = await daemonize({ entry: writer, logFile: log, waitReadyMs: 20_000 })
      track(d.pid)
      await untilNumbers(log, d, 100)
      const old = `${log}.1`
      renameSync(log, old)
      const target = join(dir, 'elsewhere')
      writeFileSync(target, '')
      trap.place(log, target)
      process.kill(d.pid, 'SIGHUP')
      await until(`"cannot reopen the log" in ${old}`, () => read(old).includes('cannot reopen the log'), { seen: () => tail(old, 3) })
      const failure = completeLines(old)
        .filter((l) => l.includes('cannot reopen the log'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(failure).toHaveLength(1)
      expect(failure[0]).toMatchObject({ name: 'node-daemonize', pid: d.pid, path: log, ...trap.error })
      // Still running, still writing to the old file (its own SIGHUP
      // handler ran there too); nothing went to the trap.
      const before = parse(read(old), d).numbers.length
      await untilNumbers(old, d, before + 101)
      expect(parse(read(old), d).hups).toEqual([1])
      expect(readAll(target)).toBe('')
      if (trap.error.code === 'ENXIO') expect(lstatSync(log).isFIFO()).toBe(true)
      else expect(lstatSync(log).isSymbolicLink() || lstatSync(log).nlink === 2).toBe(true)
    })
  }

  it('through reload --pid-file, as a logrotate postrotate script runs it', async () => {
    const log = join(dir, 'app.log')
    const pidFile = join(dir, 'app.pid')
    const d = await daemonize({ entry: writer, logFile: log, pidFile, waitReadyMs: 20_000 })
    track(d.pid)
    await untilNumbers(log, d, 100)
    renameSync(log, `${log}.1`)
    // logrotate's `create` makes the new, empty file before postrotate runs.
    writeFileSync(log, '', { mode: 0o600 })
    expect(reload(pidFile)).toEqual({ pid: d.pid, message: `sent SIGHUP to pid ${d.pid}` })
    await untilNumbers(log, d, 100)
    expect(parse(read(log), d).first).toBe('hup 1')
    expect(statSync(log).mode & 0o777).toBe(0o600)
  })

  it('reload refuses a daemon with no log file and no SIGHUP handler: the preload does not catch HUP for nothing', async () => {
    const pidFile = join(dir, 'idle.pid')
    const d = await daemonize({ entry: join(fixtures, 'daemon-idle.js'), pidFile, waitReadyMs: 20_000 })
    track(d.pid)
    let e: unknown
    try {
      reload(pidFile)
    } catch (err) {
      e = err
    }
    expect(e).toBeInstanceOf(DaemonizeError)
    expect(e).toMatchObject({ stage: 'reload', code: 'ERR_DAEMON_NO_HUP_HANDLER', pid: d.pid })
  })
})
