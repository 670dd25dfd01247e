// status / stop / reload against real daemons: every LSB status, stop with
// and without escalation, stale pid files (even naming a live unrelated
// process, which must never be signalled), reload only to a daemon that
// catches SIGHUP, and pid-file paths that must be refused untouched.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import {
  chmodSync,
  closeSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { daemonize, type Daemon } from '../src/launch/daemonize.js'
import { DaemonizeError } from '../src/errors.js'
import { reload } from '../src/control/reload.js'
import { status } from '../src/control/status.js'
import { stop } from '../src/control/stop.js'
import type { DaemonizeOptions } from '../src/options/daemonize-options.js'
import { acquirePidFile } from '../src/files/pidfile-acquire.js'
import { execShim, fixtures, root } from './helpers/caller.js'
import { cleanUpDaemons, killChildren, killDaemon, track } from './helpers/daemons.js'
import { completeText, untilLine } from './helpers/files.js'
import { isAlive, procStat, procStatus } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

let dir: string
let pidFile: string
let logFile: string
const heldFds: number[] = []
const bystanders: ChildProcess[] = []

beforeEach(() => {
  dir = scratchDir('nd-lifecycle-')
  chmodSync(dir, 0o755)
  pidFile = join(dir, 'd.pid')
  logFile = join(dir, 'd.log')
})

afterEach(async () => {
  for (const fd of heldFds.splice(0)) closeSync(fd)
  await killChildren(bystanders)
})

/** The exec shim as a daemon: no handlers, so TERM, INT and HUP kill it. */
async function startShim(extra: Partial<DaemonizeOptions> = {}): Promise<Daemon> {
  const d = await daemonize({ entry: join(fixtures, 'lifecycle-plain.js'), execPath: execShim, preload: false, pidFile, logFile, ...extra })
  track(d.pid)
  return d
}

/** A Node fixture as a daemon; resolves once it has logged that it is up (its handlers are installed by then). */
async function startNode(fixture: string, extra: Partial<DaemonizeOptions> = {}): Promise<Daemon> {
  const d = await daemonize({ entry: join(fixtures, fixture), pidFile, logFile, ...extra })
  track(d.pid)
  await untilLine(logFile, `pid ${d.pid}: up`)
  return d
}

/** The complete lines of the log so far. */
function log(): string {
  return completeText(logFile)
}

/** A process that has nothing to do with the daemon: it must never be signalled. */
function bystander(): ChildProcess {
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' })
  bystanders.push(child)
  return child
}

/** Not signalled: alive, not stopped, nothing pending. */
function untouched(child: ChildProcess): void {
  const pid = child.pid as number
  expect(child.exitCode).toBe(null)
  expect(child.signalCode).toBe(null)
  expect(isAlive(pid)).toBe(true)
  expect(procStat(pid).state).not.toBe('T')
  expect(procStatus(pid).SigPnd).toBe('0000000000000000')
  expect(procStatus(pid).ShdPnd).toBe('0000000000000000')
}

/** Hold the lock from this process, as a start in progress does; returns the pid file's fd. */
function holdLock(content = ''): number {
  const { fd, pidFd } = acquirePidFile(pidFile)
  heldFds.push(fd, pidFd)
  if (content) writeFileSync(pidFd, content)
  return pidFd
}

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<DaemonizeError> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (err) {
    expect(err).toBeInstanceOf(DaemonizeError)
    return err as DaemonizeError
  }
  throw new Error('expected a DaemonizeError')
}

/** Run the built CLI (bin/node-daemonize.js -> dist/cli.cjs) in a subprocess. */
function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'node-daemonize.js'), ...args], { encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

describe('status', () => {
  it('3: no pid file (and status does not create one)', () => {
    expect(status(pidFile)).toEqual({ state: 'stopped', code: 3, pidFile, message: `not running (no pid file ${pidFile})` })
    expect(existsSync(pidFile)).toBe(false)
  })

  it('0: running, with the pid the daemon wrote', async () => {
    const d = await startShim()
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(d.pid))
    expect(status(pidFile)).toMatchObject({ state: 'running', code: 0, pid: d.pid, pidFile })
  })

  it('0 "starting": the lock is held and no pid is written yet', () => {
    holdLock()
    const s = status(pidFile)
    expect(s).toMatchObject({ state: 'starting', code: 0, pidFile })
    expect(s.pid).toBeUndefined()
  })

  it('1: the daemon was killed with SIGKILL; a new start reclaims the file and says so in the log', async () => {
    const first = await startShim()
    await killDaemon(first.pid)
    expect(status(pidFile)).toMatchObject({ state: 'dead', code: 1, pid: first.pid })
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(first.pid))

    const second = await startShim()
    expect(second.pid).not.toBe(first.pid)
    expect(status(pidFile)).toMatchObject({ state: 'running', code: 0, pid: second.pid })
    const warning = log()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .find((r) => r.level === 40)
    expect(warning).toMatchObject({ pidFile, stalePid: first.pid })
    expect(warning.msg).toContain(`reclaimed stale pid file ${pidFile}`)
  })

  it('4: garbage, a symlink, a hard link, a directory, a missing directory', () => {
    writeFileSync(pidFile, 'not a pid\n')
    expect(status(pidFile)).toMatchObject({ state: 'unknown', code: 4 })
    expect(readFileSync(pidFile, 'utf8')).toBe('not a pid\n')

    const link = join(dir, 'link.pid')
    writeFileSync(pidFile, '4242\n')
    symlinkSync(pidFile, link)
    expect(status(link)).toMatchObject({ state: 'unknown', code: 4, pidFile: link })
    expect(status(link).message).toContain('symbolic link')

    linkSync(pidFile, join(dir, 'hard'))
    expect(status(pidFile)).toMatchObject({ state: 'unknown', code: 4 })
    expect(status(pidFile).message).toContain('2 links')

    const d = join(dir, 'dir.pid')
    mkdirSync(d)
    expect(status(d)).toMatchObject({ state: 'unknown', code: 4 })

    const missing = join(dir, 'nodir', 'd.pid')
    expect(status(missing)).toMatchObject({ state: 'unknown', code: 4 })
    expect(status(missing).message).toContain('does not exist')
    expect(existsSync(join(dir, 'nodir'))).toBe(false)
  })

  it('a second start while the daemon runs is refused with its pid', async () => {
    const d = await startShim()
    const e = await rejection(startShim())
    expect(e).toMatchObject({ stage: 'pidfile', code: 'EALREADY', pid: d.pid, message: `already running (pid ${d.pid})` })
    expect(status(pidFile)).toMatchObject({ code: 0, pid: d.pid })
  })
})

describe('stop', () => {
  it('stops a daemon with SIGTERM and removes its pid file', async () => {
    const d = await startShim()
    const r = await stop(pidFile)
    expect(r).toMatchObject({ wasRunning: true, pid: d.pid, signal: 'SIGTERM', escalated: false })
    expect(r.message).toContain(`removed ${pidFile}`)
    expect(isAlive(d.pid)).toBe(false)
    expect(existsSync(pidFile)).toBe(false)
    expect(status(pidFile).code).toBe(3)
  })

  it('escalates to SIGKILL when the daemon ignores SIGTERM', async () => {
    const d = await startNode('lifecycle-ignore-term.js')
    const r = await stop(pidFile, { timeoutMs: 2000 })
    expect(r).toMatchObject({ wasRunning: true, pid: d.pid, signal: 'SIGTERM', escalated: true })
    expect(r.message).toContain('SIGKILL')
    expect(log()).toContain(`pid ${d.pid}: got SIGTERM, ignoring it`)
    expect(isAlive(d.pid)).toBe(false)
    expect(existsSync(pidFile)).toBe(false)
  })

  it('sends the signal asked for', async () => {
    const d = await startShim()
    const r = await stop(pidFile, { signal: 'SIGINT' })
    expect(r).toMatchObject({ wasRunning: true, pid: d.pid, signal: 'SIGINT', escalated: false })
    expect(isAlive(d.pid)).toBe(false)
  })

  it('not running: resolves with wasRunning false and creates no file', async () => {
    const r = await stop(pidFile)
    expect(r).toMatchObject({ wasRunning: false, escalated: false })
    expect(existsSync(pidFile)).toBe(false)
  })

  it('a stale pid file naming a live unrelated process: nothing is signalled, and start reclaims the file', async () => {
    const other = bystander()
    writeFileSync(pidFile, `${other.pid}\n`)
    expect(status(pidFile)).toMatchObject({ state: 'dead', code: 1, pid: other.pid })
    const r = await stop(pidFile)
    expect(r).toMatchObject({ wasRunning: false, pid: other.pid, escalated: false })
    expect(r.message).toContain('was not signalled')
    expect(readFileSync(pidFile, 'utf8')).toBe(`${other.pid}\n`)
    await expect(() => reload(pidFile)).toThrow(/not running/)
    untouched(other)

    const d = await startShim()
    expect(status(pidFile)).toMatchObject({ code: 0, pid: d.pid })
    untouched(other)
    await stop(pidFile)
    untouched(other)
  })

  it('a locked pid file whose pid does not hold it: refused, nothing signalled', async () => {
    const other = bystander()
    holdLock(`${other.pid}\n`)
    // status is not misled either: the named pid is alive but does not hold the lock
    expect(status(pidFile)).toMatchObject({ state: 'dead', code: 1, pid: other.pid })
    const e = await rejection(stop(pidFile, { timeoutMs: 500 }))
    expect(e).toMatchObject({ stage: 'stop', code: 'ESRCH', pid: other.pid })
    expect(e.message).toContain('does not hold')
    const r = await rejection(() => reload(pidFile))
    expect(r).toMatchObject({ stage: 'reload', code: 'ESRCH' })
    untouched(other)
    expect(readFileSync(pidFile, 'utf8')).toBe(`${other.pid}\n`)
  })

  it('a symlink, a hard link or a directory: refused, the daemon behind it untouched, nothing deleted', async () => {
    const d = await startShim()
    const link = join(dir, 'link.pid')
    symlinkSync(pidFile, link)
    expect(await rejection(stop(link))).toMatchObject({ stage: 'stop', code: 'ELOOP' })
    expect(await rejection(() => reload(link))).toMatchObject({ stage: 'reload', code: 'ELOOP' })
    expect(readlinkSync(link)).toBe(pidFile)

    linkSync(pidFile, join(dir, 'hard'))
    expect(await rejection(stop(pidFile))).toMatchObject({ stage: 'stop', code: 'EMLINK' })
    expect(lstatSync(pidFile).nlink).toBe(2)
    expect(isAlive(d.pid)).toBe(true)

    const dirPid = join(dir, 'dir.pid')
    mkdirSync(dirPid)
    expect(await rejection(stop(dirPid))).toMatchObject({ stage: 'stop', code: 'EISDIR' })
    expect(lstatSync(dirPid).isDirectory()).toBe(true)
  })

  it('a missing directory: refused, nothing created', async () => {
    const missing = join(dir, 'nodir', 'd.pid')
    const e = await rejection(stop(missing))
    expect(e).toMatchObject({ stage: 'stop', code: 'ENOENT', path: missing })
    expect(existsSync(join(dir, 'nodir'))).toBe(false)
  })

  it('as another user (root\'s pid file, root\'s daemon): refused, the daemon untouched', async () => {
    const d = await startShim()
    const out = spawnSync(process.execPath, [join(fixtures, 'lifecycle-as-user.mjs'), 'stop', pidFile], {
      uid: 65534,
      gid: 65534,
      encoding: 'utf8',
    })
    expect(out.stderr).toBe('')
    const res = JSON.parse(out.stdout)
    expect(res).toMatchObject({ ok: false, error: { stage: 'stop', code: 'EPERM' } })
    expect(res.error.message).toContain('is owned by root (uid 0)')
    expect(isAlive(d.pid)).toBe(true)
    expect(status(pidFile)).toMatchObject({ code: 0, pid: d.pid })
  })

  it('rejects a bad signal or timeout before touching anything', async () => {
    const d = await startShim()
    expect(await rejection(stop(pidFile, { signal: 'SIGNOPE' as NodeJS.Signals }))).toMatchObject({ stage: 'options' })
    expect(await rejection(stop(pidFile, { signal: 0 }))).toMatchObject({ stage: 'options' })
    expect(await rejection(stop(pidFile, { timeoutMs: -1 }))).toMatchObject({ stage: 'options' })
    expect(isAlive(d.pid)).toBe(true)
  })
})

describe('reload', () => {
  it('refuses a daemon that does not catch SIGHUP, which stays running', async () => {
    const d = await startNode('lifecycle-plain.js', { preload: false })
    const e = await rejection(() => reload(pidFile))
    expect(e).toMatchObject({ stage: 'reload', code: 'ERR_DAEMON_NO_HUP_HANDLER', pid: d.pid })
    expect(e.message).toContain('would kill')
    expect(procStatus(d.pid).SigPnd).toBe('0000000000000000')
    expect(procStatus(d.pid).ShdPnd).toBe('0000000000000000')
    expect(isAlive(d.pid)).toBe(true)
    expect(status(pidFile)).toMatchObject({ code: 0, pid: d.pid })
  })

  it('sends SIGHUP to a daemon that catches it', async () => {
    const d = await startNode('lifecycle-hup.js', { preload: false })
    expect(reload(pidFile)).toEqual({ pid: d.pid, message: `sent SIGHUP to pid ${d.pid}` })
    await untilLine(logFile, `pid ${d.pid}: got SIGHUP 1`)
    expect(reload(pidFile).pid).toBe(d.pid)
    await untilLine(logFile, `pid ${d.pid}: got SIGHUP 2`)
    expect(isAlive(d.pid)).toBe(true)
  })

  it('refuses when nothing runs, and creates no file', async () => {
    expect(await rejection(() => reload(pidFile))).toMatchObject({ stage: 'reload', code: 'ESRCH' })
    expect(existsSync(pidFile)).toBe(false)
  })
})

describe('CLI: status, stop, reload', () => {
  it('status exits with the LSB code; --json gives the object', async () => {
    expect(cli(['status', '--pid-file', pidFile])).toEqual({ code: 3, out: `not running (no pid file ${pidFile})\n`, err: '' })
    const d = await startShim()
    const json = cli(['status', '--pid-file', pidFile, '--json'])
    expect(json.code).toBe(0)
    expect(JSON.parse(json.out)).toEqual({ state: 'running', code: 0, pid: d.pid, pidFile, message: `running (pid ${d.pid})` })
    await killDaemon(d.pid)
    expect(cli(['status', '--pid-file', pidFile]).code).toBe(1)
    writeFileSync(pidFile, 'garbage')
    expect(cli(['status', '--pid-file', pidFile]).code).toBe(4)
    expect(cli(['status', '--pid-file', join(dir, 'nodir', 'x.pid')]).code).toBe(4)
  })

  it('stop exits 0 when stopped and when not running; --timeout and --signal', async () => {
    expect(cli(['stop', '--pid-file', pidFile])).toMatchObject({ code: 0, err: '' })
    expect(existsSync(pidFile)).toBe(false)
    const d = await startNode('lifecycle-ignore-term.js')
    const r = cli(['stop', '--pid-file', pidFile, '--signal', 'TERM', '--timeout', '500ms', '--json'])
    expect(r).toMatchObject({ code: 0, err: '' })
    expect(JSON.parse(r.out)).toMatchObject({ wasRunning: true, pid: d.pid, signal: 'SIGTERM', escalated: true })
    expect(isAlive(d.pid)).toBe(false)
    expect(cli(['stop', '--pid-file', pidFile])).toMatchObject({ code: 0 })
    const e = await startShim()
    expect(cli(['stop', '--pid-file', pidFile, '--signal', '2', '-q'])).toEqual({ code: 0, out: '', err: '' })
    expect(isAlive(e.pid)).toBe(false)
  })

  it('stop and reload exit 1 with the reason on stderr when they refuse', async () => {
    const d = await startNode('lifecycle-plain.js', { preload: false })
    const r = cli(['reload', '--pid-file', pidFile])
    expect(r.code).toBe(1)
    expect(r.err).toContain('does not catch SIGHUP')
    const link = join(dir, 'link.pid')
    symlinkSync(pidFile, link)
    const s = cli(['stop', '--pid-file', link, '--json'])
    expect(s.code).toBe(1)
    expect(s.err).toContain('symbolic link')
    expect(JSON.parse(s.out).error).toMatchObject({ stage: 'stop', code: 'ELOOP' })
    expect(isAlive(d.pid)).toBe(true)
  })

  it('reload exits 0 once SIGHUP is sent', async () => {
    const d = await startNode('lifecycle-hup.js', { preload: false })
    expect(cli(['reload', '--pid-file', pidFile])).toEqual({ code: 0, out: `sent SIGHUP to pid ${d.pid}\n`, err: '' })
    await untilLine(logFile, `pid ${d.pid}: got SIGHUP 1`)
  })

  it('usage errors exit 2', () => {
    for (const args of [
      ['status'],
      ['status', '--pid-file', pidFile, 'extra'],
      ['stop', '--pid-file', pidFile, '--signal', 'NOPE'],
      ['stop', '--pid-file', pidFile, '--timeout', 'soon'],
      ['reload', '--pid-file'],
      ['reload', '--bogus'],
    ]) {
      const r = cli(args)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.out).toBe('')
      expect(r.err).toContain(`node-daemonize ${args[0]}: `)
    }
    expect(existsSync(pidFile)).toBe(false)
  })
})
