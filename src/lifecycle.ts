// status / stop / reload of a daemon found through its pid file and the
// lock file beside it (pidfile.ts).
//
// None of them ever creates either file or takes the lock while the daemon
// may be alive: they open them read-only and *test* the lock (F_OFD_GETLK,
// a write lock only), so they cannot make a concurrent start fail. A signal
// only ever goes through a pidfd, and only to a process that holds the
// locked lock file itself (checked in /proc/<pid>/fd), so a recycled pid or
// an unrelated process named by a stale file is never hit. stop, restart
// and reload act only on files the caller owns; status also reads root's,
// for monitoring users, and is never misled by anyone else's.
import { closeSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { constants as osc } from 'node:os'
import { setTimeout as delay } from 'node:timers/promises'
import { DaemonizeError, optionError, stageError, type Stage } from './errors.js'
import { native } from './native.js'
import { resolveSignal } from './signals.js'
import { inspectPidFile, type LockRef, type PidFileState } from './pidfile-inspect.js'
import { removePidFile } from './pidfile-remove.js'

/** LSB status codes: 0 running, 1 dead but the pid file exists, 3 not running, 4 unknown. */
export type LsbStatus = 0 | 1 | 3 | 4

export interface DaemonStatus {
  state: 'running' | 'starting' | 'dead' | 'stopped' | 'unknown'
  code: LsbStatus
  pid?: number
  pidFile: string
  message: string
}

export interface StopOptions {
  /** The first signal (default SIGTERM). */
  signal?: NodeJS.Signals | number
  /** How long to wait for the daemon to exit before SIGKILL (default 10000). */
  timeoutMs?: number
}

export interface StopResult {
  wasRunning: boolean
  pid?: number
  /** The first signal sent (SIGKILL may follow: see escalated). */
  signal?: NodeJS.Signals
  /** True when the daemon outlived timeoutMs and was sent SIGKILL. */
  escalated: boolean
  message: string
}

export interface ReloadResult {
  pid: number
  message: string
}

export const DEFAULT_STOP_TIMEOUT_MS = 10_000
/** After SIGKILL only an uninterruptible sleep keeps a process; give it this long. */
const KILL_WAIT_MS = 10_000
/** How long a stop waits for a concurrent stop to finish removing the files. */
const REMOVAL_WAIT_MS = 1000
/** How long a stop that found its daemon gone waits for the files to show it (another stop removing them). */
const SETTLE_WAIT_MS = 5000
/** How long a process that closed its fds (exiting) may take to become a zombie. */
const EXITING_WAIT_MS = 1000
const SIGKILL = osc.signals.SIGKILL
const SIGHUP = osc.signals.SIGHUP


/**
 * The daemon's state from its pid file, as LSB's `status` action reports it.
 * Never throws for a path that cannot be a pid file: that is code 4.
 */
export function status(pidFile: string): DaemonStatus {
  let s: PidFileState
  try {
    s = inspectPidFile(pidFile, 'pidfile', { monitor: true })
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    return { state: 'unknown', code: 4, pidFile, message: `status unknown: ${message}` }
  }
  switch (s.kind) {
    case 'absent':
      return { state: 'stopped', code: 3, pidFile, message: `not running (no pid file ${pidFile})` }
    case 'free':
      return {
        state: 'dead',
        code: 1,
        pid: s.pid ?? undefined,
        pidFile,
        message:
          s.pid === null
            ? `dead: pid file ${pidFile} is empty and not locked`
            : `dead: pid file ${pidFile} names pid ${s.pid}, but its lock is free (stale)`,
      }
    case 'held':
      if (s.pid === null) {
        return { state: 'starting', code: 0, pidFile, message: `starting (pid file ${pidFile} is locked, pid not written yet)` }
      }
      return { state: 'running', code: 0, pid: s.pid, pidFile, message: `running (pid ${s.pid})` }
  }
}

function signalLabel(sig: { num: number; name?: NodeJS.Signals }): string {
  return sig.name ?? `signal ${sig.num}`
}

/**
 * Wait until the pid file shows a pid (a start in progress writes it within
 * milliseconds of taking the lock), polling through the event loop.
 */
async function settledState(pidFile: string, stage: Stage, waitMs: number): Promise<PidFileState> {
  const end = Date.now() + waitMs
  let s = inspectPidFile(pidFile, stage)
  while (s.kind === 'held' && s.pid === null && Date.now() < end) {
    await delay(10)
    s = inspectPidFile(pidFile, stage)
  }
  return s
}

/** Does process `pid` have the file (dev, ino) open? Read from /proc/<pid>/fd (bounded by its fd count). */
export function processHoldsFile(pid: number, file: { dev: number; ino: number }): boolean {
  const dir = `/proc/${pid}/fd`
  for (const name of readdirSync(dir)) {
    let st
    try {
      st = statSync(`${dir}/${name}`)
    } catch {
      continue // closed meanwhile, or a target we cannot stat
    }
    if (st.dev === file.dev && st.ino === file.ino) return true
  }
  return false
}

/**
 * A pidfd for the daemon named by a held pid file, after checking that this
 * very process holds the file. The caller closes it.
 */
function openDaemon(s: { path: string; pid: number; lock: LockRef }, stage: Stage): number {
  const { pidfdOpen, pidfdSendSignal } = native()
  const pid = s.pid
  let pidfd: number
  try {
    pidfd = pidfdOpen(pid)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') {
      throw new DaemonizeError(
        `pid file ${s.path} is locked but names pid ${pid}, which does not exist; the lock is held by another process, so nothing was signalled`,
        { stage, code: 'ESRCH', path: s.path, pid },
      )
    }
    throw stageError(stage, `cannot open pid ${pid}`, err, s.path)
  }
  try {
    let holds: boolean
    try {
      holds = processHoldsFile(pid, s.lock)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EACCES' || code === 'EPERM') {
        throw new DaemonizeError(
          `cannot check that pid ${pid} holds ${s.lock.path}: /proc/${pid}/fd is not readable (run as the daemon's user or root); nothing was signalled`,
          { stage, code, path: s.path, pid },
        )
      }
      if (code === 'ENOENT') holds = false
      else throw stageError(stage, `cannot read /proc/${pid}/fd`, err, s.path)
    }
    if (!holds) {
      throw new DaemonizeError(
        `pid ${pid} named in ${s.path} does not hold ${s.lock.path} (the lock is held by another process); nothing was signalled`,
        { stage, code: 'ESRCH', path: s.path, pid },
      )
    }
    // Signal 0 through the pidfd: the process we opened is still alive, so
    // /proc/<pid> above was that process, not a successor with a recycled pid.
    try {
      pidfdSendSignal(pidfd, 0)
    } catch (err) {
      throw new DaemonizeError(`pid ${pid} exited while being checked`, { stage, code: 'ESRCH', path: s.path, pid, cause: err })
    }
    return pidfd
  } catch (err) {
    closeSync(pidfd)
    throw err
  }
}

function sameHolder(s: PidFileState, pid: number, lock: LockRef): boolean {
  return s.kind === 'held' && s.pid === pid && s.lock.dev === lock.dev && s.lock.ino === lock.ino
}

/**
 * After `pid` failed the check that it holds the lock file: is that because
 * it exited since we looked? True when it has exited (or is exiting: its fds
 * are closed before it turns into a zombie) and the files then stop showing
 * it as the lock's holder (the lock is freed, or another stop removes them,
 * or a new start truncates them), within SETTLE_WAIT_MS. False when pid is
 * alive, or the files keep naming it under a held lock: then the check's
 * refusal stands.
 */
async function exitedMeanwhile(pidFile: string, pid: number, lock: LockRef, stage: Stage): Promise<boolean> {
  let exited: boolean
  let pidfd: number | undefined
  try {
    pidfd = native().pidfdOpen(pid)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw stageError(stage, `cannot open pid ${pid}`, err, pidFile)
    pidfd = undefined // gone and reaped
  }
  if (pidfd === undefined) exited = true
  else {
    try {
      exited = await waitExit(pidfd, EXITING_WAIT_MS)
    } finally {
      closeSync(pidfd)
    }
  }
  const end = Date.now() + (exited ? SETTLE_WAIT_MS : 0)
  for (;;) {
    if (!sameHolder(inspectPidFile(pidFile, stage), pid, lock)) return true
    if (Date.now() >= end) return false
    await delay(10)
  }
}

/** Resolves true when the process behind pidfd has exited, false after ms. Event loop only. */
function waitExit(pidfd: number, ms: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let done = false
    let watcher: { close(): void } | undefined
    const finish = (exited: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      watcher?.close()
      resolve(exited)
    }
    // setTimeout takes at most 2^31-1 ms (~24.8 days); longer waits are that long.
    const timer = setTimeout(() => finish(false), Math.min(ms, 0x7fffffff))
    try {
      // A pidfd turns readable when its process exits.
      watcher = new (native().FdWatcher)(pidfd, () => finish(true))
    } catch (err) {
      done = true
      clearTimeout(timer)
      reject(err)
    }
  })
}

function sendSignal(pidfd: number, sig: number, pid: number, stage: Stage): boolean {
  try {
    native().pidfdSendSignal(pidfd, sig)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false // already gone
    throw stageError(stage, `cannot signal pid ${pid}`, err)
  }
}

/**
 * Stop the daemon named by a pid file: signal it (SIGTERM by default) through
 * a pidfd, wait for it to exit on the event loop, SIGKILL it after
 * timeoutMs, then remove the pid file under its lock. Resolves with
 * wasRunning false when nothing was running (no file, or a stale one: a
 * stale file is left for the next start to reclaim, and the process its pid
 * names now is not touched). Rejects with a DaemonizeError (stage 'stop')
 * when the pid file is unusable or the daemon cannot be confirmed or signalled.
 */
export async function stop(pidFile: string, options: StopOptions = {}): Promise<StopResult> {
  const sig = resolveSignal(options.signal ?? 'SIGTERM')
  const timeoutMs = options.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw optionError(`timeoutMs must be a non-negative number of milliseconds, got ${String(timeoutMs)}`)
  }
  const stage: Stage = 'stop'
  const s = await settledState(pidFile, stage, Math.max(timeoutMs, 1000))
  if (s.kind === 'absent') return { wasRunning: false, escalated: false, message: `not running (no pid file ${pidFile})` }
  if (s.kind === 'free') {
    return {
      wasRunning: false,
      pid: s.pid ?? undefined,
      escalated: false,
      message:
        s.pid === null
          ? `not running (pid file ${pidFile} is empty and not locked)`
          : `not running (stale pid file ${pidFile}: pid ${s.pid} does not hold its lock and was not signalled)`,
    }
  }
  if (s.pid === null) {
    throw new DaemonizeError(`pid file ${pidFile} is locked but still holds no pid; is a start stuck?`, {
      stage,
      code: 'EBUSY',
      path: pidFile,
    })
  }
  const pid = s.pid
  let pidfd: number
  try {
    pidfd = openDaemon({ path: s.path, pid, lock: s.lock }, stage)
  } catch (err) {
    // The daemon may have exited since we looked (another stop, or by
    // itself), and another stop may be removing its files right now,
    // holding the lock while it does.
    if (err instanceof DaemonizeError && err.code === 'ESRCH' && (await exitedMeanwhile(pidFile, pid, s.lock, stage))) {
      return { wasRunning: false, pid, escalated: false, message: `not running (pid ${pid} exited meanwhile; nothing was signalled)` }
    }
    throw err
  }
  let escalated = false
  let signalled = false
  try {
    signalled = sendSignal(pidfd, sig.num, pid, stage)
    if (signalled && !(await waitExit(pidfd, timeoutMs))) {
      escalated = true
      if (sendSignal(pidfd, SIGKILL, pid, stage) && !(await waitExit(pidfd, KILL_WAIT_MS))) {
        throw new DaemonizeError(`pid ${pid} did not exit even ${KILL_WAIT_MS} ms after SIGKILL`, {
          stage,
          code: 'ETIMEDOUT',
          path: pidFile,
          pid,
        })
      }
    }
  } finally {
    closeSync(pidfd)
  }
  const how = !signalled
    ? `pid ${pid} exited by itself before it could be signalled`
    : escalated
      ? `stopped pid ${pid}: it outlived ${signalLabel(sig)} by ${timeoutMs} ms and was killed with SIGKILL`
      : `stopped pid ${pid} with ${signalLabel(sig)}`
  // The daemon is gone either way; a pid file that cannot be removed is
  // reported, not an error (the next start reclaims it).
  let after: string
  try {
    let removal = removePidFile(pidFile, s.lock, stage)
    // 'locked': most likely a concurrent stop of the same daemon, removing
    // the files right now; give it a moment.
    for (const end = Date.now() + REMOVAL_WAIT_MS; removal === 'locked' && Date.now() < end; ) {
      await delay(10)
      removal = removePidFile(pidFile, s.lock, stage)
    }
    after =
      removal === 'removed'
        ? `; removed ${pidFile}`
        : removal === 'locked'
          ? `; left ${pidFile}: its lock is held again (a new start, or a child that inherited the daemon's lock)`
          : removal === 'replaced'
            ? `; left ${pidFile}: it was replaced meanwhile`
            : ''
  } catch (err) {
    after = `; could not remove ${pidFile}: ${(err as Error).message}`
  }
  return { wasRunning: true, pid, signal: signalled ? sig.name : undefined, escalated, message: how + after }
}

/** The signal masks of /proc/<pid>/status (SigCgt, SigIgn) as bigints. */
function signalMasks(pid: number): { caught: bigint; ignored: bigint } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (key: string) => {
    const m = new RegExp(`^${key}:\\s*([0-9a-fA-F]+)$`, 'm').exec(text)
    if (!m) throw new Error(`no ${key} in /proc/${pid}/status`)
    return BigInt(`0x${m[1]}`)
  }
  return { caught: field('SigCgt'), ignored: field('SigIgn') }
}

/**
 * Send SIGHUP to the daemon named by a pid file, only if it catches SIGHUP
 * (SigCgt in /proc/<pid>/status): HUP's default action would kill it.
 * Throws a DaemonizeError (stage 'reload') when it refuses.
 */
export function reload(pidFile: string): ReloadResult {
  const stage: Stage = 'reload'
  const s = inspectPidFile(pidFile, stage)
  if (s.kind === 'absent') {
    throw new DaemonizeError(`not running (no pid file ${pidFile}); nothing to reload`, { stage, code: 'ESRCH', path: pidFile })
  }
  if (s.kind === 'free') {
    throw new DaemonizeError(`not running (pid file ${pidFile} is stale: its lock is free); nothing was signalled`, {
      stage,
      code: 'ESRCH',
      path: pidFile,
      pid: s.pid ?? undefined,
    })
  }
  if (s.pid === null) {
    throw new DaemonizeError(`still starting (pid file ${pidFile} holds no pid yet); try again`, { stage, code: 'EAGAIN', path: pidFile })
  }
  const pid = s.pid
  const pidfd = openDaemon({ path: s.path, pid, lock: s.lock }, stage)
  try {
    let masks: { caught: bigint; ignored: bigint }
    try {
      masks = signalMasks(pid)
    } catch (err) {
      throw stageError(stage, `cannot read the signal dispositions of pid ${pid}`, err, pidFile)
    }
    const bit = 1n << BigInt(SIGHUP - 1)
    if ((masks.ignored & bit) !== 0n) {
      throw new DaemonizeError(`pid ${pid} ignores SIGHUP, so it cannot reload on it; nothing was sent`, {
        stage,
        code: 'ERR_DAEMON_NO_HUP_HANDLER',
        path: pidFile,
        pid,
      })
    }
    if ((masks.caught & bit) === 0n) {
      throw new DaemonizeError(
        `pid ${pid} does not catch SIGHUP: its default action would kill the daemon, so reload refuses to send it`,
        { stage, code: 'ERR_DAEMON_NO_HUP_HANDLER', path: pidFile, pid },
      )
    }
    if (!sendSignal(pidfd, SIGHUP, pid, stage)) {
      throw new DaemonizeError(`pid ${pid} exited before SIGHUP could be sent`, { stage, code: 'ESRCH', path: pidFile, pid })
    }
  } finally {
    closeSync(pidfd)
  }
  return { pid, message: `sent SIGHUP to pid ${pid}` }
}
