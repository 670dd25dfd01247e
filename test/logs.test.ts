// `node-daemonize logs NAME`: the last lines as the exact bytes into a pipe,
// readable (and escaped) on a terminal, -f across a rename + reload, and the
// log path treated as hostile (a symlink or a FIFO put in its place).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { native, type UserEntry } from '../src/native.js'
import { fixtures } from './helpers/caller.js'
import { cliBin, runCli as cli } from './helpers/cli.js'
import { cleanUpDaemons } from './helpers/daemons.js'
import { untilLine } from './helpers/files.js'
import { startNamed, useNamesRoot } from './helpers/names.js'
import { until } from './helpers/wait.js'
import { cleanUpScratchDirs } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()
const names = useNamesRoot()

const entry = join(fixtures, 'lifecycle-hup.js')
const nobody = native().lookupUser('nobody') as UserEntry

/** A running `logs -f`, its output collected as bytes. */
interface Follower {
  child: ChildProcess
  out: () => string
  err: () => string
  closed: Promise<number | null>
}

const followers: ChildProcess[] = []
afterEach(() => {
  for (const c of followers.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

function follow(name: string, env: NodeJS.ProcessEnv, extra: string[] = []): Follower {
  const child = spawn(process.execPath, [cliBin, 'logs', name, '-f', ...extra], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  followers.push(child)
  const out: Buffer[] = []
  let err = ''
  child.stdout?.on('data', (b: Buffer) => out.push(b))
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s))
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return { child, out: () => Buffer.concat(out).toString('latin1'), err: () => err, closed }
}

describe('logs NAME -n', () => {
  it('prints the last N lines, byte for byte, into a pipe', async () => {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'lines'], r.env)
    const log = result.logFile as string
    await untilLine(log, 'up')
    const hostile = Buffer.from('\x1b]0;pwned\x07 \xff\xfe raw\n', 'latin1')
    appendFileSync(log, Buffer.concat([Buffer.from('one\ntwo\n'), hostile, Buffer.from('last, no newline')]))
    const all = readFileSync(log)

    const three = spawnSync(process.execPath, [cliBin, 'logs', 'lines', '-n', '3'], { env: r.env })
    expect(three.status, three.stderr.toString()).toBe(0)
    expect(three.stdout).toEqual(Buffer.concat([Buffer.from('two\n'), hostile, Buffer.from('last, no newline')]))

    const none = await cli(['logs', 'lines', '-n', '0'], r.env)
    expect(none).toMatchObject({ code: 0, out: '' })
    // More lines than there are: the whole file.
    const every = spawnSync(process.execPath, [cliBin, 'logs', 'lines', '--lines', '100000'], { env: r.env })
    expect(every.stdout).toEqual(all)
  })

  it('on a terminal: JSON lines as time, level and message, control characters escaped', async () => {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'tty'], r.env)
    const log = result.logFile as string
    await untilLine(log, 'up')
    const time = Date.UTC(2026, 0, 2, 3, 4, 5, 678)
    appendFileSync(
      log,
      `${JSON.stringify({ level: 50, time, pid: 1, hostname: 'h', name: 'app', msg: 'it broke\x1b[2J', code: 'E1' })}\n` + 'plain \x1b]0;title\x07 line\n',
    )
    const run = spawnSync('python3', [join(fixtures, 'pty-run.py'), process.execPath, cliBin, 'logs', 'tty', '-n', '2'], {
      env: { ...r.env, TERM: 'xterm', TZ: 'UTC', NO_COLOR: '1' },
      encoding: 'latin1',
      timeout: 60_000,
    })
    expect(run.status, run.stderr).toBe(0)
    // The terminal turns \n into \r\n.
    const lines = run.stdout.split('\r\n').filter(Boolean)
    expect(lines).toEqual(['2026-01-02 03:04:05.678 ERROR app: it broke\\x1b[2J code=E1', 'plain \\x1b]0;title\\x07 line'])

    const coloured = spawnSync('python3', [join(fixtures, 'pty-run.py'), process.execPath, cliBin, 'logs', 'tty', '-n', '2'], {
      env: { ...r.env, TERM: 'xterm', TZ: 'UTC', NO_COLOR: '' },
      encoding: 'latin1',
      timeout: 60_000,
    })
    // Our own colour codes only: red for ERROR, and the log's ESC still escaped.
    expect(coloured.stdout).toContain('\x1b[31mERROR\x1b[0m app: it broke\\x1b[2J')
  })
  it('on a terminal: the supervisor\'s and the launcher\'s own lines are shown readable too', async () => {
    const r = names()
    const orders = join(r.top, 'orders')
    mkdirSync(orders)
    const { result } = await startNamed([join(fixtures, 'supervised-app.mjs'), '--name', 'sup', '--respawn', '--', orders], r.env)
    const log = result.logFile as string
    await untilLine(log, (l) => l.includes('"supervisor":true'))
    const run = spawnSync('python3', [join(fixtures, 'pty-run.py'), process.execPath, cliBin, 'logs', 'sup', '-n', '1000'], {
      env: { ...r.env, TERM: 'xterm', NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect(run.status, run.stderr).toBe(0)
    const lines = run.stdout.split('\r\n')
    const stamp = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) node-daemonize: /
    expect(lines.filter((l) => l.includes('supervisor=true')).length).toBeGreaterThan(0)
    for (const l of lines.filter((l) => l.includes('supervisor=true') || l.includes('helperPid='))) expect(l).toMatch(stamp)
    // The app's own line is JSON without a level: shown as it is.
    expect(lines.some((l) => l.startsWith('{"app":true'))).toBe(true)
  })
})

describe('logs NAME -f', () => {
  it('follows the log across a rename and a reload, as the service user who owns its log directory', async () => {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'rot', '--user', 'nobody'], r.env)
    const log = result.logFile as string
    // Root's daemon with a service user: its log in a directory that user owns.
    const dir = join(r.logs, 'rot')
    expect(log).toBe(join(dir, 'rot.log'))
    expect(statSync(dir)).toMatchObject({ uid: nobody.uid, gid: nobody.gid })
    expect(statSync(dir).mode & 0o777).toBe(0o750)
    await untilLine(log, 'up')

    // The launcher's lines came last, before start returned: nothing writes now.
    const lastLine = readFileSync(log, 'latin1').split('\n').slice(-2).join('\n')
    const f = follow('rot', r.env, ['-n', '1'])
    await until('the last line to be shown', () => f.out() === lastLine, { seen: f.out })
    appendFileSync(log, 'before rotation\n')
    await until('a new line to be followed', () => f.out().includes('before rotation\n'), { seen: f.out })

    renameSync(log, `${log}.1`)
    // Written to the old file after the rename, before the daemon reopens: not lost.
    appendFileSync(`${log}.1`, 'late in the old file\n')
    const reload = await cli(['reload', 'rot'], r.env)
    expect(reload.code, reload.err).toBe(0)
    // The daemon reopens the path: a new file, created by the daemon itself, as its user.
    await untilLine(log, 'got SIGHUP 1')
    expect(statSync(log).uid).toBe(nobody.uid)
    await until('the line the daemon wrote to the new file', () => /got SIGHUP 1\n/.test(f.out()), { seen: f.out })
    appendFileSync(log, 'after rotation\n')
    await until('a line of the new file', () => f.out().includes('after rotation\n'), { seen: f.out })

    const out = f.out()
    const order = ['before rotation', 'late in the old file', 'got SIGHUP 1', 'after rotation'].map((s) => out.indexOf(s))
    expect(order).toEqual([...order].sort((a, b) => a - b))
    expect(order.every((i) => i >= 0)).toBe(true)
    expect(f.err()).toMatch(/has been replaced; following the new file/)
    f.child.kill('SIGTERM')
    expect(await f.closed).toBe(0)
  })

  it('waits for a log that does not exist yet', async () => {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'late'], r.env)
    const log = result.logFile as string
    await untilLine(log, 'up')
    renameSync(log, `${log}.old`)
    const f = follow('late', r.env)
    appendFileSync(log, 'first line of a new file\n')
    await until('the new file to be followed', () => f.out().includes('first line of a new file\n'), { seen: f.out })
    f.child.kill('SIGINT')
    expect(await f.closed).toBe(0)
  })
})

describe('the log path is hostile input', () => {
  it('refuses a symbolic link put in the place of the log', async () => {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'sym'], r.env)
    const log = result.logFile as string
    writeFileSync(join(r.top, 'secret'), 'not for the log reader\n')
    rmSync(log)
    symlinkSync(join(r.top, 'secret'), log)
    const res = await cli(['logs', 'sym'], r.env)
    expect(res.code).toBe(1)
    expect(res.err).toMatch(/symbolic link; refusing it/)
    expect(res.out).toBe('')
  })

  it('refuses a FIFO put in the place of the log, without hanging', async () => {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'fifo'], r.env)
    const log = result.logFile as string
    rmSync(log)
    mkfifo(log)
    const res = await cli(['logs', 'fifo'], r.env)
    expect(res.code).toBe(1)
    expect(res.err).toMatch(/is not a regular file/)
  })

  it('refuses a hard link put in the place of the log', async () => {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'hard'], r.env)
    const log = result.logFile as string
    const other = join(r.top, 'other')
    writeFileSync(other, 'another file\n')
    rmSync(log)
    spawnSync('ln', [other, log])
    expect(existsSync(log)).toBe(true)
    const res = await cli(['logs', 'hard'], r.env)
    expect(res.code).toBe(1)
    expect(res.err).toMatch(/has 2 links/)
  })
})

function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', [path])
  if (r.status !== 0) throw new Error(`mkfifo ${path}: ${r.stderr}`)
}
