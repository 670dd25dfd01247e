// status: the state of a daemon found through its pid file and the lock
// file beside it, as LSB's `status` action reports it. It only looks: both
// files are opened read-only and never created, and the lock is *tested*
// (F_OFD_GETLK, a write lock only), never taken, so a status cannot make a
// concurrent start fail. It reads the caller's files and root's (for
// monitoring users), and is never misled by anyone else's. Under a
// supervisor its record says the rest (supervisor-status.ts); a dead
// service's processes that still run are named from the launch record
// (survivors.ts) or found holding its lock (stop-holders.ts).
import { lstatSync } from 'node:fs'
import { readProcText } from '../proc/identity.js'
import { processHoldsFile, type LockHolder } from '../proc/lock-holders.js'
import { inspectPidFile, type LockRef, type PidFileState } from '../files/pidfile-inspect.js'
import type { SupervisorState } from '../files/state-file.js'
import type { SupervisorStatus } from './supervisor-status.js'
import { supervisedView } from './supervised-view-part.js'
import { launchRecord, supervisorRecord } from '../files/launch-record.js'
import { deadService } from './dead-service-part.js'
import type { Survivors } from './survivors.js'

/** LSB status codes: 0 running, 1 dead but the pid file exists, 3 not running, 4 unknown. */
export type LsbStatus = 0 | 1 | 3 | 4

export interface DaemonStatus {
  /** restarting, stopping and failed: a service started with respawn (see `supervisor`). */
  /** degraded: with --instances, some (not all) instances are up; LSB 0 while one serves. */
  state: 'running' | 'degraded' | 'starting' | 'restarting' | 'stopping' | 'dead' | 'failed' | 'stopped' | 'unknown'
  code: LsbStatus
  /** The pid the pid file names: with respawn, the supervisor's. */
  pid?: number
  pidFile: string
  message: string
  /** With respawn: what the supervisor reports (the current daemon's pid, restarts, last exit, ...). */
  supervisor?: SupervisorStatus
  /**
   * dead: processes of the service that still run (the daemon or generation
   * the launch recorded, with its start time and uid; what it left in its
   * session; the lock's holders of the service's uid). stop ends them.
   */
  survivors?: number[]
  /** dead: the processes that hold the lock while the pid file's pid does not (of any uid). */
  lockHolders?: number[]
}

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
  if (s.kind !== 'absent') {
    let sup: SupervisorStatus | undefined
    try {
      const st = supervisorRecord(s.path, s.pid)
      sup = st === undefined ? undefined : supervisedView().supervisorStatus(st, Date.now(), true)
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      return { state: 'unknown', code: 4, pid: s.pid ?? undefined, pidFile, message: `status unknown: ${message}` }
    }
    if (sup !== undefined) return supervisedStatus(pidFile, s.kind === 'held', sup, s.pid)
  }
  switch (s.kind) {
    case 'absent':
      return { state: 'stopped', code: 3, pidFile, message: `not running (no pid file ${pidFile})` }
    case 'free': {
      const found = survivorsOf(pidFile, s.pid)
      if (found !== undefined) {
        return {
          state: 'dead',
          code: 1,
          pid: s.pid ?? undefined,
          pidFile,
          survivors: deadService().survivorPids(found),
          message: `dead: pid file ${pidFile} names pid ${s.pid}, but its lock is free; ${deadService().describeSurvivors(found)}`,
        }
      }
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
    }
    case 'held':
      if (s.pid === null) {
        return { state: 'starting', code: 0, pidFile, message: `starting (pid file ${pidFile} is locked, pid not written yet)` }
      }
      if (!holdsItsLock(s.pid, s.lock)) return heldElsewhere(pidFile, s.pid, s.lock)
      return { state: 'running', code: 0, pid: s.pid, pidFile, message: `running (pid ${s.pid})` }
  }
}

/**
 * Is the named pid the lock's holder? A held lock proves only that some
 * process holds the lock file: one the daemon handed fd 3 to outlives it.
 * Gone or a zombie (whose fds are closed) is never the holder; a live
 * process is checked in /proc/<pid>/fd, and when that is not readable (a
 * monitoring user looking at root's daemon) the held lock is all there is.
 */
function holdsItsLock(pid: number, lock: LockRef): boolean {
  const stat = readProcText(`/proc/${pid}/stat`, 4096)
  if (stat === undefined) return false // no such process
  if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return false
  try {
    return processHoldsFile(pid, lock)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EACCES' || code === 'EPERM') return true
    if (code === 'ENOENT') return false // exited meanwhile
    throw err
  }
}

/** What still runs of a service whose lock is free (survivors.ts); undefined when nothing does, or it cannot be told. */
function survivorsOf(pidFile: string, pid: number | null): Survivors | undefined {
  const { findSurvivors, survivorPids } = deadService()
  try {
    const found = findSurvivors(pidFile, pid)
    return found !== undefined && (survivorPids(found).length > 0 || found.supervisorPid > 0) ? found : undefined
  } catch {
    return undefined
  }
}

/**
 * A held lock whose pid file names a pid that does not hold it: the
 * daemon handed its lock fd on. Who holds it (as far as /proc lets this
 * caller see), and whether stop would end them (stop-holders.ts).
 */
function heldElsewhere(pidFile: string, pid: number, lock: LockRef): DaemonStatus {
  const base = { state: 'dead' as const, code: 1 as const, pid, pidFile }
  const head = `dead: pid file ${pidFile} names pid ${pid}, which no longer holds its lock`
  const { describeHolders, findHolders, judgeHolders } = deadService()
  let holders: LockHolder[] = []
  let record: SupervisorState | undefined
  try {
    // (A daemon of an earlier version locks its pid file itself: no record to judge its holders by.)
    if (lock.path !== pidFile) holders = findHolders(lock, lstatSync(pidFile), () => true)
    record = launchRecord(pidFile, pid)
  } catch {
    // what cannot be read names nobody
  }
  if (holders.length === 0) return { ...base, message: `${head}; the lock is held by another process (one the daemon handed its lock fd to?)` }
  const lockHolders = holders.map((h) => h.pid)
  const refused = judgeHolders(holders, record)
  if (refused !== undefined) return { ...base, lockHolders, message: `${head}; ${refused.why}` }
  const one = holders.length === 1
  return {
    ...base,
    lockHolders,
    survivors: lockHolders,
    message: `${head}; ${describeHolders(holders)} hold${one ? 's' : ''} it (stop ends ${one ? 'it' : 'them'})`,
  }
}

/** status of a service under a supervisor: the lock says whether the supervisor lives, its state file the rest. */
function supervisedStatus(pidFile: string, held: boolean, sup: SupervisorStatus, pid: number | null): DaemonStatus {
  const { describeEnd, describeRunning, instancesUp } = supervisedView()
  const base = { pid: sup.pid, pidFile, supervisor: sup }
  if (held) {
    const n = instancesUp(sup.instances)
    const running = n !== undefined && n.up < n.of ? 'degraded' : 'running'
    const state = sup.state === 'restarting' ? 'restarting' : sup.state === 'starting' ? 'starting' : sup.state === 'stopping' ? 'stopping' : running
    return { ...base, state, code: 0, message: describeRunning(sup) }
  }
  if (sup.state === 'failed') return { ...base, state: 'failed', code: 1, message: `failed: ${describeEnd(sup)}` }
  if (sup.state === 'stopped' || sup.state === 'exited') {
    return { ...base, state: 'stopped', code: 3, message: `not running: ${describeEnd(sup)}` }
  }
  // Its lock is free, yet it never wrote an end: the supervisor was killed
  // (SIGKILL). What it started may live on: a generation that cleared its
  // death signal, what the daemon left in the session.
  const found = survivorsOf(pidFile, pid)
  const pids = found === undefined ? [] : deadService().survivorPids(found)
  return {
    ...base,
    state: 'dead',
    code: 1,
    ...(pids.length > 0 ? { survivors: pids } : {}),
    message: `dead: the supervisor (pid ${sup.pid}) is gone without stopping the service (killed?); ${found === undefined ? 'what it ran cannot be told' : deadService().describeSurvivors(found)}`,
  }
}
