// The start-up window: a launch that waits for ready() returns only after
// it, and a daemon that dies first, or never gets ready, is an error that
// says how it ended and what it printed, with nothing left running.
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { daemonize, DaemonizeError } from '../src/index.js'
import { native } from '../src/native.js'
import { fixtures, root } from './helpers/caller.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { completeLines, untilLine } from './helpers/files.js'
import { isAlive, procFds, procStat } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

const crashExample = join(root, 'examples', 'crash-at-startup.js')
const serverExample = join(root, 'examples', 'ready-server.js')

let dir: string
beforeEach(() => {
  dir = scratchDir('nd-ready-')
})

async function failure(p: Promise<unknown>): Promise<DaemonizeError> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(DaemonizeError)
    const e = err as DaemonizeError
    if (e.pid !== undefined) track(e.pid)
    return e
  }
  throw new Error('expected the launch to fail')
}

/** The process is gone and reaped: no pidfd can be opened on it. */
function gone(pid: number): boolean {
  try {
    closeSync(native().pidfdOpen(pid))
    return false
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true
    throw err
  }
}

/** Some process holds the pid file's lock, on its lock file (read-only open: takes nothing). */
function lockHeld(path: string): boolean {
  const fd = openSync(`${path}.lock`, 'r')
  try {
    return native().isLocked(fd)
  } finally {
    closeSync(fd)
  }
}

/** The log's complete, non-empty lines so far. */
function logLines(path: string): string[] {
  return completeLines(path).filter(Boolean)
}

describe('waiting for ready()', () => {
  it('resolves only after the daemon called ready(), with ready: true', async () => {
    const log = join(dir, 'd.log')
    const marker = join(dir, 'marker')
    const d = await daemonize({
      entry: join(fixtures, 'daemon-delayed-ready.js'),
      args: [marker, '300'],
      logFile: log,
      waitReadyMs: 20_000,
    })
    track(d.pid)
    // The fixture writes the marker right before ready(): had the launch
    // returned earlier (at exec), the marker could not be there yet.
    expect(existsSync(marker)).toBe(true)
    expect(readFileSync(marker, 'utf8')).toBe(String(d.pid))
    expect(d.ready).toBe(true)
    const ready = d.stages.find((r) => r.stage === 'ready')
    expect(ready).toMatchObject({ err: 0, value: d.pid })
    expect(d.stages.findIndex((r) => r.stage === 'ready')).toBeGreaterThan(d.stages.findIndex((r) => r.stage === 'exec'))
    // The helper reported, exited and was reaped: the daemon has a new parent.
    expect(gone(d.helperPid)).toBe(true)
    expect(procStat(d.pid).ppid).not.toBe(d.helperPid)

    const report = JSON.parse(await untilLine(log, (l) => l.startsWith('{"first"'), { what: "the fixture's report" }))
    // ready() closed the pipe it had on fd 4: no fd points at it any more.
    expect(report.readyPipe).toMatch(/^pipe:\[\d+\]$/)
    expect([...procFds(d.pid).values()]).not.toContain(report.readyPipe)
    expect(report).toEqual({
      first: true,
      second: false, // a second call is harmless
      readyPipe: report.readyPipe,
      envReadyFd: null,
      envLogFile: null, // the preload took it out of process.env
      stash: { CONTRACT: '1', LOG_FILE: log }, // READY_FD forgotten after use
      pinoLoaded: false,
      addonMapped: false,
    })
  })

  it('works without the preload: ready() reads NODE_DAEMONIZE_READY_FD and then forgets it', async () => {
    const log = join(dir, 'd.log')
    const marker = join(dir, 'marker')
    const d = await daemonize({
      entry: join(fixtures, 'daemon-delayed-ready.js'),
      args: [marker, '300'],
      logFile: log,
      waitReadyMs: 20_000,
      preload: false,
    })
    track(d.pid)
    expect(d.ready).toBe(true)
    expect(existsSync(marker)).toBe(true)
    const report = JSON.parse(await untilLine(log, (l) => l.startsWith('{"first"'), { what: "the fixture's report" }))
    expect(report).toMatchObject({ first: true, second: false, envReadyFd: null, envLogFile: log, stash: null })
  })

  it('a CommonJS daemon can require node-daemonize/daemon', async () => {
    const log = join(dir, 'cjs.log')
    const d = await daemonize({ entry: join(fixtures, 'daemon-cjs-ready.cjs'), logFile: log, waitReadyMs: 20_000 })
    track(d.pid)
    expect(d.ready).toBe(true)
    await untilLine(log, (l) => l === 'ready() returned true', { what: '"ready() returned true"' })
    const up = logLines(log).find((l) => l.includes('"style":"cjs"'))
    expect(JSON.parse(up as string)).toMatchObject({ pid: d.pid, sid: d.sid, msg: 'up' })
  })

  it('the example server is listening when the launch returns', async () => {
    const log = join(dir, 'server.log')
    const d = await daemonize({ entry: serverExample, args: ['--port', '0'], logFile: log, waitReadyMs: 20_000 })
    track(d.pid)
    expect(d.ready).toBe(true)
    // It logged its port before ready(), with pid and sid bound by logger().
    const line = logLines(log)
      .map((l) => JSON.parse(l) as { pid: number; sid?: number; port?: number })
      .find((r) => r.pid === d.pid && r.port !== undefined)
    expect(line).toMatchObject({ pid: d.pid, sid: d.sid })
    const body = await new Promise<string>((resolve, reject) => {
      request({ host: '127.0.0.1', port: line?.port, path: '/' }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text += c))
        res.on('end', () => resolve(text))
      })
        .on('error', reject)
        .end()
    })
    expect(body).toBe(`hello from pid ${d.pid}\n`)
  })
})

describe('a daemon that dies before it is ready', () => {
  it('fails with stage ready, the exit code and the log tail; no process and no pid file remain', async () => {
    const log = join(dir, 'crash.log')
    const pidFile = join(dir, 'crash.pid')
    const e = await failure(daemonize({ entry: crashExample, logFile: log, pidFile, waitReadyMs: 20_000 }))
    expect(e).toMatchObject({ stage: 'ready', code: 'ERR_DAEMON_EXITED', exitCode: 1, signal: null, path: log })
    expect(e.pid).toBeGreaterThan(0)
    expect(e.logTail).toContain('reading configuration')
    expect(e.logTail).toContain('Error: DATABASE_URL is not set')
    expect(e.message).toContain('exited with code 1')
    expect(e.message).toContain('DATABASE_URL is not set')
    expect(gone(e.pid as number)).toBe(true)
    expect(existsSync(pidFile)).toBe(false)
  })

  it('names the signal that killed it', async () => {
    const log = join(dir, 'killed.log')
    const e = await failure(daemonize({ entry: join(fixtures, 'daemon-self-kill.js'), logFile: log, waitReadyMs: 20_000 }))
    expect(e).toMatchObject({ stage: 'ready', code: 'ERR_DAEMON_EXITED', exitCode: null, signal: 'SIGKILL' })
    expect(e.message).toContain('was killed by SIGKILL')
    expect(e.logTail).toContain('about to be killed')
    expect(gone(e.pid as number)).toBe(true)
  })

  it('keeps only the last 20 lines of the log in the error', async () => {
    const log = join(dir, 'long.log')
    const e = await failure(
      daemonize({
        entry: join(fixtures, 'daemon-many-lines.js'),
        logFile: log,
        waitReadyMs: 20_000,
      }),
    )
    expect(e).toMatchObject({ stage: 'ready', exitCode: 3 })
    const tail = (e.logTail as string).split('\n')
    expect(tail).toHaveLength(20)
    expect(tail[19]).toBe('line 49')
    expect(tail[0]).toBe('line 30')
  })
})

describe('what a failed daemon started', () => {
  const fixture = join(fixtures, 'daemon-spawn-then-fail.js')

  /** Every live process whose environment carries tag (the daemon and anything it started). */
  function tagged(tag: string): number[] {
    const out: number[] = []
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue
      try {
        if (readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(tag) && isAlive(Number(name))) out.push(Number(name))
      } catch {
        // gone, or not ours to read
      }
    }
    return out
  }

  for (const how of ['crash', 'hang'] as const) {
    it(`${how === 'crash' ? 'a crash' : 'a timeout'} before ready: what the daemon started is killed and reaped too`, async () => {
      const log = join(dir, `spawn-${how}.log`)
      const tag = `ND_TEST_TAG=${process.pid}-${Date.now()}-${how}`
      const e = await failure(
        daemonize({
          entry: fixture,
          args: [how],
          logFile: log,
          waitReadyMs: how === 'crash' ? 20_000 : 3_000,
          env: { ...process.env, [tag.split('=')[0]]: tag.split('=')[1] },
        }),
      )
      expect(e).toMatchObject({ stage: 'ready', code: how === 'crash' ? 'ERR_DAEMON_EXITED' : 'ERR_DAEMON_TIMEOUT' })
      const line = logLines(log).find((l) => l.startsWith('{"child"'))
      // A crash comes after the child started; a hang usually lets it start.
      if (how === 'crash') expect(line).toBeDefined()
      if (line !== undefined) expect(gone(track((JSON.parse(line) as { child: number }).child))).toBe(true)
      expect(gone(e.pid as number)).toBe(true)
      expect(tagged(tag)).toEqual([])
    })
  }
})

describe('a daemon that never gets ready', () => {
  it('times out: the error says so, the daemon is killed and reaped, the pid file removed', async () => {
    const log = join(dir, 'slow.log')
    const pidFile = join(dir, 'slow.pid')
    const e = await failure(
      daemonize({ entry: join(fixtures, 'daemon-never-ready.js'), logFile: log, pidFile, waitReadyMs: 1_500 }),
    )
    expect(e).toMatchObject({ stage: 'ready', code: 'ERR_DAEMON_TIMEOUT' })
    expect(e.message).toContain('did not call ready() within 1500 ms (killed)')
    expect(gone(e.pid as number)).toBe(true)
    expect(existsSync(pidFile)).toBe(false)
  })

  it('with keepOnTimeout, stays running and keeps its pid file locked', async () => {
    const log = join(dir, 'kept.log')
    const pidFile = join(dir, 'kept.pid')
    const e = await failure(
      daemonize({
        entry: join(fixtures, 'daemon-never-ready.js'),
        logFile: log,
        pidFile,
        waitReadyMs: 1_500,
        keepOnTimeout: true,
      }),
    )
    expect(e).toMatchObject({ stage: 'ready', code: 'ERR_DAEMON_TIMEOUT' })
    expect(e.message).toContain('(left running)')
    const pid = e.pid as number
    expect(gone(pid)).toBe(false)
    expect(readFileSync(pidFile, 'utf8')).toBe(`${pid}\n`)
    expect(lockHeld(pidFile)).toBe(true)
    // A late ready() finds nobody reading the pipe and is still harmless.
    await untilLine(log, (l) => l === 'up, not ready', { what: '"up, not ready"' })
    process.kill(pid, 'SIGUSR2')
    await untilLine(log, (l) => l.startsWith('late ready()'), { what: '"late ready() ..."' })
    expect(logLines(log)).toContain('late ready() returned false')
    expect(gone(pid)).toBe(false)
  })
})

describe('the start-up grace window (no readiness)', () => {
  it('a crash inside it fails with stage running, exit code and log tail', async () => {
    const log = join(dir, 'grace.log')
    const pidFile = join(dir, 'grace.pid')
    const e = await failure(daemonize({ entry: crashExample, logFile: log, pidFile, startupGraceMs: 20_000 }))
    expect(e).toMatchObject({ stage: 'running', code: 'ERR_DAEMON_EXITED', exitCode: 1, signal: null })
    expect(e.message).toContain('during start-up')
    expect(e.logTail).toContain('DATABASE_URL is not set')
    expect(gone(e.pid as number)).toBe(true)
    expect(existsSync(pidFile)).toBe(false)
  })

  it('a daemon that outlives it resolves, with ready: false and a running record', async () => {
    const log = join(dir, 'idle.log')
    const d = await daemonize({ entry: join(fixtures, 'daemon-idle.js'), logFile: log, startupGraceMs: 300 })
    track(d.pid)
    expect(d.ready).toBe(false)
    expect(d.stages.find((r) => r.stage === 'running')).toMatchObject({ err: 0, value: 300 })
    expect(gone(d.pid)).toBe(false)
  })

  it('without a window, a daemon that crashes later is not the launch\'s failure', async () => {
    const log = join(dir, 'nowindow.log')
    const d = await daemonize({ entry: crashExample, logFile: log })
    track(d.pid)
    expect(d.ready).toBe(false)
    expect(d.stages.some((r) => r.stage === 'running' || r.stage === 'ready')).toBe(false)
  })
})
