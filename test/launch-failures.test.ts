// How a launch fails, and what it says when it does: the log tail is read
// through the launch's own fd and never by path (nothing the service user
// plants there is followed), from the end of the file only; a failure after
// the daemon exec'd either becomes a warning (the daemon runs) or a
// DaemonizeError with nothing left running, and the caller leaks no fd;
// bad options are refused before anything is created; the CLI's exit status
// says what the launch did even when nobody reads its output.
import { spawnSync } from 'node:child_process'
import fs, {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { type Daemon, daemonize, DaemonizeError, type DaemonizeOptions, status, stop } from '../src/index.js'
import { logTail, TAIL_WINDOW } from '../src/logs/tail.js'
import { native, type UserEntry } from '../src/native.js'
import { fixtures, root } from './helpers/caller.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { isAlive, procFds } from './helpers/proc.js'
import { runCli as cli } from './helpers/cli.js'
import { freePort } from './helpers/net.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

const bin = join(root, 'bin', 'node-daemonize.js')
const idle = join(fixtures, 'daemon-idle.js')
const manyLines = join(fixtures, 'daemon-many-lines.js')
const plantsLog = join(fixtures, 'daemon-plants-log.cjs')
const callerLaunch = join(fixtures, 'caller-launch.mjs')
const nobody = native().lookupUser('nobody') as UserEntry

let dir: string
beforeEach(() => {
  dir = scratchDir('nd-launchfail-', 0o755)
})



/** The CLI with its stdout a pipe nobody reads any more. */
function cliIntoClosedPipe(args: string[]): { status: number; stderr: string } {
  const r = spawnSync('python3', [join(fixtures, 'closed-stdout.py'), process.execPath, bin, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  })
  if (r.status !== 0) throw new Error(`closed-stdout.py failed (${r.status}): ${r.stderr}`)
  return JSON.parse(r.stdout)
}

/** The launch's outcome, either way; a daemon it started is tracked for clean-up. */
async function settle(p: Promise<Daemon>): Promise<{ daemon?: Daemon; error?: unknown }> {
  try {
    const daemon = await p
    track(daemon.pid)
    return { daemon }
  } catch (error) {
    return { error }
  }
}

/** A launch that must fail with a DaemonizeError (a daemon it started anyway is cleaned up). */
async function refused(options: DaemonizeOptions): Promise<DaemonizeError> {
  const r = await settle(daemonize(options))
  if (r.daemon) throw new Error(`the launch was expected to fail but started pid ${r.daemon.pid}`)
  expect(r.error).toBeInstanceOf(DaemonizeError)
  return r.error as DaemonizeError
}

/** This process's open fds and what each points at. */
function ownFds(): string[] {
  return [...procFds(process.pid).values()].sort()
}

describe('the log tail is read through the launch\'s fd, not the path (issue 9, defect 2)', () => {
  /** A root-only file, and a log directory the service user owns (as docs/privileges.md suggests). */
  function setting(): { secret: string; secretText: string; logs: string; log: string } {
    const secretText = `ND-SECRET-${process.pid}-${Date.now()}`
    const secret = join(dir, 'secret')
    writeFileSync(secret, `${secretText}\n`, { mode: 0o600 })
    const logs = join(dir, 'logs')
    mkdirSync(logs, { mode: 0o755 })
    chownSync(logs, nobody.uid, nobody.gid)
    return { secret, secretText, logs, log: join(logs, 'app.log') }
  }

  it('a daemon (as nobody) that replaces its log with a symlink to a root-only file: the tail never shows that file', async () => {
    const { secret, secretText, log } = setting()
    const e = await refused({ entry: plantsLog, args: ['symlink', log, secret], user: 'nobody', logFile: log, startupGraceMs: 10_000 })
    expect(e).toMatchObject({ stage: 'running', code: 'ERR_DAEMON_EXITED', exitCode: 1 })
    // What the daemon wrote before it swapped the path: the file the launch opened.
    expect(e.logTail).toBe('daemon: starting\ndaemon: fatal: cannot start')
    expect(e.message).not.toContain(secretText)
    expect(readlinkSync(log)).toBe(secret) // the plant was there when the tail was read
  })

  it('the same through the CLI: neither --json nor stderr shows the file', async () => {
    const { secret, secretText, log } = setting()
    const r = await cli(['start', plantsLog, '--user', 'nobody', '--log-file', log, '--startup-grace', '10s', '--json', '--', 'symlink', log, secret])
    expect(r.code).toBe(1)
    expect(r.out + r.err).not.toContain(secretText)
    const { error } = JSON.parse(r.out)
    expect(error).toMatchObject({ stage: 'running', code: 'ERR_DAEMON_EXITED' })
    expect(error.logTail).toContain('daemon: fatal: cannot start')
  })

  it('a daemon that replaces its log with a FIFO: start returns at once with the failure, and the pid file is released', { timeout: 45_000 }, () => {
    const log = join(dir, 'app.log')
    const pidFile = join(dir, 'app.pid')
    const options = { entry: plantsLog, args: ['fifo', log], logFile: log, pidFile, startupGraceMs: 10_000 }
    // In a subprocess: a launcher stuck on the FIFO would block its thread for good.
    const r = spawnSync(process.execPath, [callerLaunch, JSON.stringify(options)], { encoding: 'utf8', timeout: 30_000 })
    expect(r.signal).toBe(null)
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1) as string)
    expect(out).toMatchObject({ ok: false, error: { stage: 'running', code: 'ERR_DAEMON_EXITED' } })
    expect(out.error.message).toContain('daemon: fatal: cannot start')
    expect(fs.statSync(log).isFIFO()).toBe(true)
    expect(existsSync(pidFile)).toBe(false)
  })
})

describe('the log tail reads a bounded window from the end (issue 9, defect 3)', () => {
  it('a 600 MB log: the daemon\'s last 20 lines come back', async () => {
    const log = join(dir, 'big.log')
    writeFileSync(log, '', { mode: 0o640 })
    truncateSync(log, 600 * 2 ** 20) // sparse: no disk used
    const e = await refused({ entry: manyLines, logFile: log, startupGraceMs: 10_000 })
    expect(e).toMatchObject({ stage: 'running', code: 'ERR_DAEMON_EXITED', exitCode: 3 })
    const expected = Array.from({ length: 20 }, (_, i) => `line ${30 + i}`).join('\n')
    expect(e.logTail).toBe(expected)
  })

  /** An fd opened the way the launch opens the log: write-only, appending. */
  function logFd(path: string): number {
    return openSync(path, fs.constants.O_WRONLY | fs.constants.O_APPEND)
  }

  it('reads through a write-only fd; 20 lines at most; a partial first line is dropped', () => {
    const path = join(dir, 'a.log')
    const lines = Array.from({ length: 5000 }, (_, i) => `${i} ${'x'.repeat(i % 97)}`)
    writeFileSync(path, lines.join('\n') + '\n')
    const fd = logFd(path)
    try {
      expect(logTail(fd)).toBe(lines.slice(-20).join('\n'))
      expect(logTail(fd, 3)).toBe(lines.slice(-3).join('\n'))
      // A window that starts mid-line: that line is not shown cut.
      const long = Array.from({ length: 10 }, (_, i) => `${i}:${'y'.repeat(TAIL_WINDOW / 8)}`)
      writeFileSync(path, long.join('\n') + '\n')
      const tail = logTail(fd, 100) as string
      for (const l of tail.split('\n')) expect(long).toContain(l)
      expect(tail.length).toBeLessThanOrEqual(TAIL_WINDOW)
    } finally {
      closeSync(fd)
    }
  })

  it('a 3 GB log with one line longer than the window: its end, never the whole file', () => {
    const path = join(dir, 'huge.log')
    writeFileSync(path, '')
    truncateSync(path, 3 * 2 ** 30)
    fs.appendFileSync(path, 'the end\n')
    const fd = logFd(path)
    try {
      const t0 = process.hrtime.bigint()
      const tail = logTail(fd) as string
      const ms = Number(process.hrtime.bigint() - t0) / 1e6
      expect(tail.endsWith('the end')).toBe(true)
      expect(tail.length).toBeLessThanOrEqual(TAIL_WINDOW)
      // Not a benchmark: reading 3 GB takes many seconds; one window, milliseconds
      // (the bound leaves room for a loaded machine).
      expect(ms).toBeLessThan(3000)
    } finally {
      closeSync(fd)
    }
  })

  it('nothing for an fd that is not a regular file, or no fd', () => {
    const fd = openSync('/dev/null', 'w')
    try {
      expect(logTail(fd)).toBeUndefined()
    } finally {
      closeSync(fd)
    }
    expect(logTail(undefined)).toBeUndefined()
    expect(logTail(-1)).toBeUndefined()
  })
})

describe('a failure after exec (issue 9, defect 4)', () => {
  /**
   * Make every write to `path` fail with ENOSPC in this process (a full disk,
   * for the launcher's own pino lines); returns the undo.
   */
  function fullDisk(path: string): () => void {
    const real = fs.writeSync
    fs.writeSync = function (fd: number, ...rest: unknown[]) {
      let target = ''
      try {
        target = readlinkSync(`/proc/self/fd/${fd}`)
      } catch {}
      if (target === path) {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' })
      }
      return (real as (...a: unknown[]) => number).call(fs, fd, ...rest)
    } as typeof fs.writeSync
    return () => {
      fs.writeSync = real
    }
  }

  /** Collect process warnings while `fn` runs (they are emitted on the next tick). */
  async function warningsDuring<T>(fn: () => Promise<T>): Promise<{ result: T; warnings: { code?: string; message: string }[] }> {
    const warnings: { code?: string; message: string }[] = []
    const on = (w: Error): void => void warnings.push({ code: (w as { code?: string }).code, message: w.message })
    process.on('warning', on)
    try {
      const result = await fn()
      await new Promise((r) => setImmediate(r))
      return { result, warnings }
    } finally {
      process.off('warning', on)
    }
  }

  it('a log that refuses writes (EINVAL): started, with a warning; no fd kept; status and stop work', async () => {
    const pidFile = join(dir, 'a.pid')
    const before = ownFds()
    const { result: r, warnings } = await warningsDuring(() =>
      settle(daemonize({ entry: idle, logFile: '/proc/self/status', pidFile, startupGraceMs: 0 })),
    )
    expect(r.error).toBeUndefined()
    const d = r.daemon as Daemon
    expect(d.warnings).toEqual([{ code: 'NODE_DAEMONIZE_LOG_LOST', message: expect.stringContaining('EINVAL') }])
    expect(warnings).toContainEqual({ code: 'NODE_DAEMONIZE_LOG_LOST', message: expect.stringContaining('EINVAL') })
    expect(isAlive(d.pid)).toBe(true)
    expect(ownFds()).toEqual(before)
    expect(status(pidFile)).toMatchObject({ state: 'running', code: 0, pid: d.pid })
    expect(await stop(pidFile)).toMatchObject({ wasRunning: true, pid: d.pid })
    expect(isAlive(d.pid)).toBe(false)
    expect(existsSync(pidFile)).toBe(false)
  })

  it('a full disk (ENOSPC) under the log: started, with a warning; no fd kept', async () => {
    const log = join(dir, 'a.log')
    const pidFile = join(dir, 'a.pid')
    const before = ownFds()
    const undo = fullDisk(log)
    let r: Awaited<ReturnType<typeof settle>>
    let warnings: { code?: string; message: string }[]
    try {
      ;({ result: r, warnings } = await warningsDuring(() => settle(daemonize({ entry: idle, logFile: log, pidFile, startupGraceMs: 0 }))))
    } finally {
      undo()
    }
    expect(r.error).toBeUndefined()
    const d = r.daemon as Daemon
    expect(d.warnings).toEqual([{ code: 'NODE_DAEMONIZE_LOG_LOST', message: expect.stringContaining('ENOSPC') }])
    expect(warnings.map((w) => w.code)).toContain('NODE_DAEMONIZE_LOG_LOST')
    expect(ownFds()).toEqual(before)
    expect(status(pidFile)).toMatchObject({ state: 'running', pid: d.pid })
    expect(await stop(pidFile)).toMatchObject({ wasRunning: true, pid: d.pid })
  })

  it('a full disk and a daemon that dies at start-up: a DaemonizeError, nothing running, no pid file, no fd kept', async () => {
    const log = join(dir, 'a.log')
    const pidFile = join(dir, 'a.pid')
    const before = ownFds()
    const undo = fullDisk(log)
    let r: Awaited<ReturnType<typeof settle>>
    try {
      ;({ result: r } = await warningsDuring(() => settle(daemonize({ entry: manyLines, logFile: log, pidFile, startupGraceMs: 10_000 }))))
    } finally {
      undo()
    }
    expect(r.error).toBeInstanceOf(DaemonizeError)
    const e = r.error as DaemonizeError
    expect(e).toMatchObject({ stage: 'running', code: 'ERR_DAEMON_EXITED', exitCode: 3 })
    expect(e.logTail?.split('\n').at(-1)).toBe('line 49')
    expect(isAlive(e.pid as number)).toBe(false)
    expect(existsSync(pidFile)).toBe(false)
    expect(ownFds()).toEqual(before)
  })

  it('a full disk when a stale pid file is taken over (a line written before the helper starts): started, with a warning', async () => {
    const log = join(dir, 'a.log')
    const pidFile = join(dir, 'a.pid')
    writeFileSync(pidFile, '2147483646\n') // nobody holds its lock
    const undo = fullDisk(log)
    let r: Awaited<ReturnType<typeof settle>>
    try {
      ;({ result: r } = await warningsDuring(() => settle(daemonize({ entry: idle, logFile: log, pidFile, startupGraceMs: 0 }))))
    } finally {
      undo()
    }
    expect(r.error).toBeUndefined()
    expect((r.daemon as Daemon).warnings?.map((w) => w.code)).toContain('NODE_DAEMONIZE_LOG_LOST')
    expect(status(pidFile)).toMatchObject({ state: 'running', pid: r.daemon?.pid })
  })

  it('the CLI: exit 0, a --json result with the warning, one warning line on stderr; status and stop agree', async () => {
    const pidFile = join(dir, 'a.pid')
    const r = await cli(['start', idle, '--log-file', '/proc/self/status', '--pid-file', pidFile, '--startup-grace', '0', '--json'])
    const d = JSON.parse(r.out)
    track(d.pid)
    expect(r.code).toBe(0)
    expect(d.warnings).toEqual([{ code: 'NODE_DAEMONIZE_LOG_LOST', message: expect.stringContaining('EINVAL') }])
    expect(r.err).toMatch(/^node-daemonize: warning: cannot write the launcher's lines to the log \/proc\/self\/status: EINVAL[^\n]*\n$/)
    expect(isAlive(d.pid)).toBe(true)
    expect(await cli(['status', '--pid-file', pidFile])).toMatchObject({ code: 0 })
    expect(await cli(['stop', '--pid-file', pidFile])).toMatchObject({ code: 0 })
    expect(isAlive(d.pid)).toBe(false)
  })
})

describe('--log-file /dev/null means no log file', () => {
  it('the API: the daemon starts, stdout and stderr on /dev/null, no log named', async () => {
    const d = (await settle(daemonize({ entry: idle, logFile: '/dev/null', startupGraceMs: 0 }))).daemon as Daemon
    expect(d).toBeDefined()
    expect(d.logFile).toBeUndefined()
    const fds = procFds(d.pid)
    expect(fds.get(1)).toBe('/dev/null')
    expect(fds.get(2)).toBe('/dev/null')
  })

  it('the CLI', async () => {
    const r = await cli(['start', idle, '--log-file', '/dev/null', '--startup-grace', '0', '--json'])
    const d = JSON.parse(r.out)
    track(d.pid)
    expect(r).toMatchObject({ code: 0, err: '' })
    expect(d.logFile).toBeUndefined()
    expect(procFds(d.pid).get(1)).toBe('/dev/null')
  })
})

describe('output into a closed pipe', () => {
  it('--help: exit 0, nothing on stderr (no stack trace)', () => {
    expect(cliIntoClosedPipe(['--help'])).toEqual({ status: 0, stderr: '' })
    expect(cliIntoClosedPipe(['start', '--help'])).toEqual({ status: 0, stderr: '' })
  })

  it('start: exit 0 when the daemon started, nothing on stderr; the daemon runs', async () => {
    const pidFile = join(dir, 'a.pid')
    expect(cliIntoClosedPipe(['start', idle, '--pid-file', pidFile, '--startup-grace', '0'])).toEqual({ status: 0, stderr: '' })
    const s = status(pidFile)
    track(s.pid as number)
    expect(s).toMatchObject({ state: 'running', code: 0 })
  })

  it('start that fails, with --json: exit 1 and one line on stderr', () => {
    const r = cliIntoClosedPipe(['start', join(dir, 'missing.js'), '--json'])
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/^node-daemonize start: [^\n]*\n$/)
  })
})

describe('options are checked before anything is created', () => {
  it.each<[string, Partial<DaemonizeOptions>]>([
    ['maxOpenFiles 1e20', { maxOpenFiles: 1e20 }],
    ['maxOpenFiles 2**53', { maxOpenFiles: 2 ** 53 }],
    ['user 10n', { user: 10n as unknown as number }],
    ['group 10n', { group: 10n as unknown as number }],
    ['execPath \'\'', { execPath: '' }],
    ['pidFile \'\'', { pidFile: '' }],
    ['pidFile 5', { pidFile: 5 as unknown as string }],
    ['logFile \'\'', { logFile: '' }],
    ['cwd \'\'', { cwd: '' }],
    ['keepOnTimeout \'yes\'', { keepOnTimeout: 'yes' as unknown as boolean, waitReadyMs: 5000 }],
    ['coreDumps 1', { coreDumps: 1 as unknown as boolean }],
    ['notifySystemd \'true\'', { notifySystemd: 'true' as unknown as boolean }],
    ['preload \'no\'', { preload: 'no' as unknown as boolean }],
  ])('%s', async (_name, bad) => {
    const files = { logFile: join(dir, 'a.log'), pidFile: join(dir, 'a.pid') }
    const e = await refused({ entry: idle, startupGraceMs: 0, ...files, ...bad })
    expect(e).toMatchObject({ stage: 'options', code: 'ERR_INVALID_ARG_VALUE' })
    expect(readdirSync(dir)).toEqual([])
  })

  it('entry \'\'', async () => {
    const e = await refused({ entry: '' })
    expect(e).toMatchObject({ stage: 'options', code: 'ERR_INVALID_ARG_VALUE' })
  })
})

describe('out of file descriptors (EMFILE)', () => {
  /** Launches from a caller with 0..most fds free (see launch-emfile.mjs). */
  function emfile(options: DaemonizeOptions, most: number) {
    const r = spawnSync('prlimit', ['--nofile=128:128', process.execPath, join(fixtures, 'launch-emfile.mjs'), JSON.stringify(options), String(most)], {
      encoding: 'utf8',
      timeout: 60_000,
    })
    const line = r.stdout.trim().split('\n').at(-1) as string
    if (!line?.startsWith('{')) throw new Error(`launch-emfile.mjs printed no result (${r.status}): ${r.stderr}`)
    const out = JSON.parse(line) as {
      before: number
      results: { free: number; ok: boolean; pid?: number; daemonizeError?: boolean; stage?: string; code?: string; fds: number }[]
    }
    for (const x of out.results) if (x.pid) track(x.pid)
    return out
  }

  it('no log: a DaemonizeError at a real stage for every count of free fds, until the launch succeeds; no fd leaked', () => {
    const { before, results } = emfile({ entry: idle, startupGraceMs: 0 }, 32)
    expect(results[0]).toMatchObject({ ok: false, daemonizeError: true, stage: 'stdio', code: 'EMFILE' })
    for (const r of results) {
      if (!r.ok) expect(r).toMatchObject({ daemonizeError: true, stage: expect.stringMatching(/^(stdio|helper)$/) })
      expect(r.fds).toBe(before)
    }
    expect(results.at(-1)).toMatchObject({ ok: true })
  })

  it('with listening sockets: a DaemonizeError at a real stage (listen, for each socket) for every count; no fd leaked', async () => {
    const [a, b] = [await freePort(), await freePort()]
    const listen = [`tcp:127.0.0.1:${a}`, `tcp:${b}`, `unix:${join(dir, 'a.sock')}`]
    const { before, results } = emfile({ entry: idle, startupGraceMs: 0, listen }, 40)
    // With no fd free even the addon cannot load (the specs need its constants); then each socket in turn.
    expect(results[0]).toMatchObject({ ok: false, daemonizeError: true, stage: 'helper', code: 'ERR_DLOPEN_FAILED' })
    expect(results.filter((r) => r.stage === 'listen' && r.code === 'EMFILE').length).toBeGreaterThanOrEqual(3)
    for (const r of results) {
      if (!r.ok) expect(r).toMatchObject({ daemonizeError: true, stage: expect.stringMatching(/^(listen|stdio|helper)$/) })
      expect(r.fds).toBe(before)
    }
    expect(results.at(-1)).toMatchObject({ ok: true })
  })

  it('with a log: the same', () => {
    const { before, results } = emfile({ entry: idle, logFile: join(dir, 'a.log'), startupGraceMs: 0 }, 32)
    expect(results[0]).toMatchObject({ ok: false, daemonizeError: true, stage: 'log', code: 'EMFILE' })
    for (const r of results) {
      if (!r.ok) expect(r).toMatchObject({ daemonizeError: true, stage: expect.stringMatching(/^(log|helper)$/) })
      expect(r.fds).toBe(before)
    }
    expect(results.at(-1)).toMatchObject({ ok: true })
  })
})
