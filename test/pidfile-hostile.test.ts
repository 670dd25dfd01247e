// The pid file and its lock file under attack: from a second user (nobody),
// from the daemon's own user, and from concurrent stops. Each case is one
// that misled or stalled root's start, status, stop, restart or reload
// before the lock moved into a 0600 lock file and the pid file became the
// caller's alone to write.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import {
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { daemonize, type Daemon } from '../src/launch/daemonize.js'
import { DaemonizeError } from '../src/errors.js'
import { reload } from '../src/control/reload.js'
import { status } from '../src/control/status.js'
import { stop } from '../src/control/stop.js'
import { native } from '../src/native.js'
import { acquirePidFile, acquirePidFileWhenSettled } from '../src/files/pidfile-acquire.js'
import { writeLockedInProcLocks } from '../src/files/pidfile-inspect.js'
import { execShim, fixtures, root, runCaller } from './helpers/caller.js'
import { cleanUpDaemons, killChildren, killDaemon, track, untilGone } from './helpers/daemons.js'
import { procStatus } from './helpers/proc.js'
import { runCli as cliAsync } from './helpers/cli.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

const NOBODY = native().lookupUser('nobody')!
const bin = join(root, 'bin', 'node-daemonize.js')
const plain = join(fixtures, 'lifecycle-plain.js')

let dir: string
let pidFile: string
let logFile: string
const children: ChildProcess[] = []
const heldFds: number[] = []

beforeEach(() => {
  dir = scratchDir('nd-hostile-', 0o755)
  pidFile = join(dir, 'd.pid')
  logFile = join(dir, 'd.log')
})

afterEach(async () => {
  for (const fd of heldFds.splice(0)) closeSync(fd)
  await killChildren(children)
})

/** The system's python (a per-user shim in root's home is not nobody's to run). */
const PYTHON = '/usr/bin/python3'
const asNobody = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups']

/** The exec shim as a daemon (no handlers: TERM kills it). */
async function startShim(extra: Record<string, unknown> = {}): Promise<Daemon> {
  const d = await daemonize({ entry: plain, execPath: execShim, preload: false, pidFile, logFile, ...extra })
  track(d.pid)
  return d
}

/** Run the CLI, as root or (nobody: true) as nobody. */
function cli(args: string[], how: { nobody?: boolean } = {}): { code: number | null; out: string; err: string } {
  const argv = [...(how.nobody ? asNobody : []), process.execPath, bin, ...args]
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}


/**
 * As nobody, open `path` read-only and take read locks on it (a POSIX one,
 * as lockf(LOCK_SH) does, and an OFD one); resolves once both are held.
 * The process holds them until afterEach kills it.
 */
async function foreignReadLock(path: string): Promise<ChildProcess> {
  const script = [
    'import fcntl, os, struct, sys, time',
    'fd = os.open(sys.argv[1], os.O_RDONLY)',
    'fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)',
    'fcntl.fcntl(fd, 37, struct.pack("hhqqi", fcntl.F_RDLCK, 0, 0, 0, 0))  # F_OFD_SETLK',
    'print("locked", flush=True)',
    'time.sleep(600)',
  ].join('\n')
  const child = spawn(asNobody[0], [...asNobody.slice(1), PYTHON, '-c', script, path], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let err = ''
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s))
  const lines = createInterface({ input: child.stdout! })
  await new Promise<void>((resolve, reject) => {
    lines.once('line', (l) => (l === 'locked' ? resolve() : reject(new Error(l))))
    child.once('exit', () => reject(new Error(`the read-lock holder exited: ${err}`)))
  })
  return child
}

/** A process of nobody's that must never be signalled. */
function nobodysProcess(): ChildProcess {
  const child = spawn(asNobody[0], [...asNobody.slice(1), 'sleep', '600'], { stdio: 'ignore' })
  children.push(child)
  return child
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

describe('a foreign read lock (defect 1)', () => {
  it('the lock file is 0600 and root\'s: nobody cannot even open it', async () => {
    await startShim()
    const st = statSync(`${pidFile}.lock`)
    expect({ uid: st.uid, mode: st.mode & 0o7777, nlink: st.nlink }).toEqual({ uid: 0, mode: 0o600, nlink: 1 })
    const r = spawnSync(asNobody[0], [...asNobody.slice(1), PYTHON, '-c', 'import os,sys; os.open(sys.argv[1], os.O_RDONLY)', `${pidFile}.lock`], {
      encoding: 'utf8',
    })
    expect(r.status).not.toBe(0)
    expect(r.stderr).toContain('Permission denied')
  })

  it('after the daemon died, nobody\'s read lock on the pid file neither fakes "running" nor blocks start, stop or restart', async () => {
    const d = await startShim()
    await killDaemon(d.pid)
    await foreignReadLock(pidFile)

    const s = status(pidFile)
    expect(s).toMatchObject({ state: 'dead', code: 1, pid: d.pid })
    expect(cli(['status', '--pid-file', pidFile]).code).toBe(1)
    expect(cli(['status', '--pid-file', pidFile], { nobody: true }).code).toBe(1)
    expect(await stop(pidFile)).toMatchObject({ wasRunning: false })

    // start takes over the stale file, whatever nobody holds on it
    const d2 = await startShim()
    expect(d2.pid).not.toBe(d.pid)
    expect(readFileSync(pidFile, 'utf8')).toBe(`${d2.pid}\n`)
    expect(status(pidFile)).toMatchObject({ state: 'running', code: 0, pid: d2.pid })

    // restart stops it and starts another
    const r = cli(['restart', plain, '--pid-file', pidFile, '--log-file', logFile, '--exec-path', execShim, '--no-preload', '--startup-grace', '0'])
    expect(r.code, r.err + r.out).toBe(0)
    const d3 = Number(readFileSync(pidFile, 'utf8'))
    track(d3)
    expect(d3).not.toBe(d2.pid)
    await untilGone(d2.pid)
    expect(status(pidFile)).toMatchObject({ state: 'running', pid: d3 })

    // and stop stops that one and removes both files
    const stopped = await stop(pidFile)
    expect(stopped).toMatchObject({ wasRunning: true, pid: d3 })
    expect(stopped.message).toContain(`removed ${pidFile}`)
    expect(existsSync(pidFile)).toBe(false)
    expect(existsSync(`${pidFile}.lock`)).toBe(false)
  })

  it('while the daemon runs, a foreign read lock on the pid file does not keep stop from removing it', async () => {
    const d = await startShim()
    await foreignReadLock(pidFile)
    expect(status(pidFile)).toMatchObject({ state: 'running', pid: d.pid })
    const stopped = await stop(pidFile)
    expect(stopped).toMatchObject({ wasRunning: true, pid: d.pid })
    expect(stopped.message).toContain(`removed ${pidFile}`)
    expect(existsSync(pidFile)).toBe(false)
    expect(status(pidFile)).toMatchObject({ state: 'stopped', code: 3 })
  })
})

describe('the pid file is not the daemon\'s to write (defect 7)', () => {
  it('a daemon run as nobody holds no descriptor of its pid file, only the lock file at fd 3', async () => {
    const logs = scratchDir('nd-hostile-logs-', 0o777)
    const d = await daemonize({
      entry: plain,
      execPath: execShim,
      preload: false,
      pidFile,
      logFile: join(logs, 'd.log'),
      user: 'nobody',
    })
    track(d.pid)
    expect(procStatus(d.pid).Uid.split(/\s+/)[0]).toBe(String(NOBODY.uid))
    const pidSt = statSync(pidFile)
    expect({ uid: pidSt.uid, mode: pidSt.mode & 0o777 }).toEqual({ uid: 0, mode: 0o644 })
    // Every fd of the daemon, by inode: none is the pid file.
    const fds = readdirSync(`/proc/${d.pid}/fd`).map(Number).sort((a, b) => a - b)
    const seen = new Map<number, { dev: number; ino: number }>()
    for (const fd of fds) {
      try {
        const st = statSync(`/proc/${d.pid}/fd/${fd}`)
        seen.set(fd, { dev: st.dev, ino: st.ino })
      } catch {
        // closed meanwhile
      }
    }
    for (const [fd, st] of seen) expect(st.dev === pidSt.dev && st.ino === pidSt.ino, `fd ${fd} is the pid file`).toBe(false)
    const lockSt = statSync(`${pidFile}.lock`)
    expect(seen.get(3)).toEqual({ dev: lockSt.dev, ino: lockSt.ino })
    // stop still finds and stops it
    expect(await stop(pidFile)).toMatchObject({ wasRunning: true, pid: d.pid })
  })

  it('a 2 GB (sparse) pid file: status answers at once, "does not hold a pid", and stop and start refuse it', async () => {
    writeFileSync(pidFile, '')
    truncateSync(pidFile, 2 ** 31)
    const t0 = Date.now()
    const s = status(pidFile)
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(s).toMatchObject({ state: 'unknown', code: 4 })
    expect(s.message).toContain('does not hold a pid')
    expect(s.message.length).toBeLessThan(400)
    const e = await rejection(stop(pidFile))
    expect(e).toMatchObject({ stage: 'stop', code: 'EINVAL' })
    expect(e.message).toContain('does not hold a pid')
  })

  it('garbage in the pid file is shown short and escaped', async () => {
    writeFileSync(pidFile, `\x1b[2J\x1b[31m${'x'.repeat(100_000)}\n`)
    const s = status(pidFile)
    expect(s).toMatchObject({ state: 'unknown', code: 4 })
    expect(s.message).toContain('\\x1b[2J')
    expect(s.message).not.toMatch(/[\x00-\x1f\x7f]/)
    expect(s.message.length).toBeLessThan(400)
    const r = cli(['status', '--pid-file', pidFile])
    expect(r.code).toBe(4)
    expect(r.out + r.err).not.toMatch(/\x1b/)
  })
})

describe('the helper writes the pid', () => {
  // A full filesystem under the pid file: a one-page tmpfs, filled up.
  // Mounting needs root, as the suite has in CI.
  const isRoot = process.getuid?.() === 0

  it.skipIf(!isRoot)('a pid file that cannot be written fails the launch at stage pidfile, with nothing left running', async () => {
    const mnt = scratchDir('nd-hostile-full-')
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4k,mode=0755', 'tmpfs', mnt], { encoding: 'utf8' })
    try {
      expect(m.status, `mount a 4 KiB tmpfs: ${m.stderr}`).toBe(0)
      pidFile = join(mnt, 'd.pid')
      const filler = openSync(join(mnt, 'filler'), 'w')
      try {
        for (;;) writeFileSync(filler, Buffer.alloc(512))
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC')
      } finally {
        closeSync(filler)
      }
      const r = runCaller({ entry: plain, execPath: execShim, preload: false, pidFile })
      expect(r.ok, r.output).toBe(false)
      expect(r.error).toMatchObject({ stage: 'pidfile', code: 'ENOSPC' })
      expect(r.error!.message).toContain('pid')
      expect(existsSync(pidFile)).toBe(false)
      expect(existsSync(`${pidFile}.lock`)).toBe(false)
      // nothing of the launch is left holding anything on the filesystem
      expect(spawnSync('umount', [mnt]).status).toBe(0)
    } finally {
      // Before the directory goes (after the test).
      spawnSync('umount', [mnt])
    }
  })
})

describe('a pid file or lock file planted by another user (defect 8)', () => {
  let shared: string
  beforeEach(() => {
    // A sticky, world-writable directory (like /tmp, /run/lock).
    shared = scratchDir('nd-hostile-sticky-', 0o1777)
    pidFile = join(shared, 'd.pid')
  })

  /** Create `path` as nobody, mode 0666, holding `content`. */
  function plantAsNobody(path: string, content: string): void {
    const r = spawnSync(
      asNobody[0],
      [...asNobody.slice(1), PYTHON, '-c', 'import os,sys; os.umask(0); fd=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT|os.O_EXCL, 0o666); os.write(fd, sys.argv[2].encode())', path, content],
      { encoding: 'utf8' },
    )
    expect(r.status, r.stderr).toBe(0)
    expect(statSync(path).uid).toBe(NOBODY.uid)
  }

  const protectedRegular = (() => {
    try {
      return Number(readFileSync('/proc/sys/fs/protected_regular', 'utf8').trim())
    } catch {
      return 0
    }
  })()

  function expectRefused(e: { code?: string; message: string }): void {
    if (protectedRegular === 0) {
      expect(e.code).toBe('EPERM')
      expect(e.message).toContain(`owned by nobody (uid ${NOBODY.uid})`)
    } else {
      // The kernel refuses root's O_CREAT open of nobody's file first.
      expect(['EPERM', 'EACCES']).toContain(e.code)
    }
  }

  it('start, stop, restart and reload refuse nobody\'s pid file (naming the owner); status is not misled; nobody\'s process is untouched', async () => {
    const victim = nobodysProcess()
    plantAsNobody(pidFile, `${victim.pid}\n`)

    const started = await rejection(startShim())
    expect(started.stage).toBe('pidfile')
    expectRefused(started)

    const stopped = await rejection(stop(pidFile))
    expect(stopped).toMatchObject({ stage: 'stop', code: 'EPERM' })
    expect(stopped.message).toContain('owned by nobody')
    const reloaded = await rejection(() => reload(pidFile))
    expect(reloaded).toMatchObject({ stage: 'reload', code: 'EPERM' })

    const r = cli(['restart', plain, '--pid-file', pidFile, '--exec-path', execShim, '--no-preload', '--startup-grace', '0'])
    expect(r.code).toBe(1)
    expect(r.err + r.out).toContain('nobody')

    const s = status(pidFile)
    expect(s).toMatchObject({ state: 'unknown', code: 4 })
    expect(s.message).toContain('owned by nobody')
    expect(cli(['status', '--pid-file', pidFile]).code).toBe(4)

    // nothing was started, the file is as nobody left it, nobody's process was never signalled
    expect(readFileSync(pidFile, 'utf8')).toBe(`${victim.pid}\n`)
    expect(statSync(pidFile).uid).toBe(NOBODY.uid)
    expect(victim.exitCode).toBe(null)
    expect(victim.signalCode).toBe(null)
    expect(procStatus(victim.pid!).SigPnd).toBe('0000000000000000')
  })

  it('a lock file planted by nobody is refused by start, and cannot make status say "running"', async () => {
    plantAsNobody(`${pidFile}.lock`, '')
    const started = await rejection(startShim())
    expect(started.stage).toBe('pidfile')
    expectRefused(started)
    expect(existsSync(pidFile)).toBe(false)

    // root's pid file beside nobody's write-locked lock file: not "running"
    writeFileSync(pidFile, `${process.pid}\n`)
    const script = [
      'import fcntl, os, struct, sys, time',
      'fd = os.open(sys.argv[1], os.O_RDWR)',
      'fcntl.fcntl(fd, 37, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0))',
      'print("locked", flush=True)',
      'time.sleep(600)',
    ].join('\n')
    const child = spawn(asNobody[0], [...asNobody.slice(1), PYTHON, '-c', script, `${pidFile}.lock`], { stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(child)
    await new Promise<void>((resolve) => createInterface({ input: child.stdout! }).once('line', () => resolve()))
    const s = status(pidFile)
    expect(s).toMatchObject({ state: 'unknown', code: 4 })
    expect(s.message).toContain('owned by nobody')
    expect((await rejection(stop(pidFile))).code).toBe('EPERM')
  })

  it('a monitoring user reads root\'s status through /proc/locks (running, then not running)', async () => {
    pidFile = join(dir, 'd.pid')
    const d = await startShim()
    const r = cli(['status', '--pid-file', pidFile], { nobody: true })
    expect(r.out).toContain(`running (pid ${d.pid})`)
    expect(r.code).toBe(0)
    const lockSt = statSync(`${pidFile}.lock`, { bigint: true })
    expect(writeLockedInProcLocks({ dev: lockSt.dev, ino: lockSt.ino })).toBe(true)
    await stop(pidFile)
    const after = cli(['status', '--pid-file', pidFile], { nobody: true })
    expect(after.code).toBe(3)
  })
})

describe('concurrent stops', () => {
  it('a stop that finds its daemon gone while another stop holds the lock to remove the files reports "not running"', async () => {
    const d = await startShim()
    await killDaemon(d.pid)
    // Another stop, mid-removal: it holds the lock (on the lock file, and on
    // the pid file as an earlier layout did) and is about to unlink both.
    for (const p of [pidFile, `${pidFile}.lock`].filter((p) => existsSync(p))) {
      const fd = openSync(p, 'r+')
      heldFds.push(fd)
      expect(native().lockFile(fd)).toBe(true)
    }
    const pending = stop(pidFile, { timeoutMs: 2000 })
    setTimeout(() => {
      rmSync(pidFile, { force: true })
      rmSync(`${pidFile}.lock`, { force: true })
      for (const fd of heldFds.splice(0)) closeSync(fd)
    }, 200)
    const r = await pending
    expect(r).toMatchObject({ wasRunning: false })
    expect(r.message).toMatch(/not running/)
  })

  it('three concurrent CLI stops all exit 0, saying stopped or not running (repeated)', async () => {
    for (let round = 0; round < 10; round++) {
      const d = await startShim()
      const outs = await Promise.all([0, 1, 2].map(() => cliAsync(['stop', '--pid-file', pidFile])))
      for (const o of outs) {
        expect(o.code, `round ${round}: ${o.out}${o.err}`).toBe(0)
        expect(o.out).toMatch(/stopped pid|not running/)
      }
      expect(outs.filter((o) => o.out.includes(`stopped pid ${d.pid}`)).length).toBeGreaterThanOrEqual(1)
      await untilGone(d.pid)
      expect(existsSync(pidFile)).toBe(false)
    }
  })
})

describe('a start that finds another start in progress', () => {
  it('waits past 3 s for the pid to appear, and names it', async () => {
    const held = acquirePidFile(pidFile)
    heldFds.push(held.pidFd, held.fd)
    setTimeout(() => writeFileSync(held.pidFd, '4243\n'), 3500)
    const e = await rejection(acquirePidFileWhenSettled(pidFile))
    expect(e).toMatchObject({ code: 'EALREADY', pid: 4243, message: 'already running (pid 4243)' })
  }, 20_000)

  it('refuses at once (no wait) when the locked pid file holds garbage', async () => {
    const held = acquirePidFile(pidFile)
    heldFds.push(held.pidFd, held.fd)
    writeFileSync(held.pidFd, 'garbage\n')
    const t0 = Date.now()
    const e = await rejection(acquirePidFileWhenSettled(pidFile))
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(e).toMatchObject({ code: 'EALREADY' })
    expect(e.message).toContain('does not hold a pid')
  })

  it('a daemon of an earlier layout (write lock on the pid file itself, no lock file) still refuses a start', () => {
    // This process stands in for the old daemon: it names itself and holds the lock.
    writeFileSync(pidFile, `${process.pid}\n`)
    const fd = openSync(pidFile, 'r+')
    heldFds.push(fd)
    expect(native().lockFile(fd)).toBe(true)
    expect(() => acquirePidFile(pidFile)).toThrow(expect.objectContaining({ code: 'EALREADY', pid: process.pid }) as unknown as Error)
    expect(status(pidFile)).toMatchObject({ state: 'running', pid: process.pid })
    expect(fstatSync(fd).size).toBe(String(process.pid).length + 1)
  })
})
