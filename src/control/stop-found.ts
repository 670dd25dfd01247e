// stop() (stop.ts) of a service whose pid file is there: a stale one
// (what of the service still runs, survivors.ts), a lock handed on (its
// holders, stop-holders.ts), or the daemon itself, signalled through a
// checked pidfd, waited for, SIGKILLed after the timeout; then its files
// removed under the lock. Reached through stopFoundPart() (stop-found-part.ts).
import { closeSync } from 'node:fs'
import { delay } from '../delay.js'
import { DaemonizeError, stageError, type Stage } from '../errors.js'
import { openDaemon } from './daemon-pidfd.js'
import { sendSignal, waitExit } from '../proc/pidfd.js'
import { native } from '../native.js'
import { osSignals, resolveSignal } from '../signals.js'
import { inspectPidFile, type LockRef, type PidFileState } from '../files/pidfile-inspect.js'
import { removePidFile } from '../files/pidfile-remove.js'
import { removeStateFile, statePathOf, type SupervisorState } from '../files/state-file.js'
import { SUPERVISOR_STOP_GRACE_MS } from './supervisor-status.js'
import { supervisorRecord } from '../files/launch-record.js'
import { deadService } from './dead-service-part.js'
import { DEFAULT_STOP_TIMEOUT_MS, type StopOptions, type StopResult } from './stop-result.js'
import type { Survivors } from './survivors.js'
import { pidList } from './terminate.js'

/** After SIGKILL only an uninterruptible sleep keeps a process; give it this long. */
const KILL_WAIT_MS = 10_000
/** How long a stop waits for a concurrent stop to finish removing the files. */
const REMOVAL_WAIT_MS = 1000
/** How long a stop that found its daemon gone waits for the files to show it (another stop removing them). */
const SETTLE_WAIT_MS = 5000
/** How long a process that closed its fds (exiting) may take to become a zombie. */
const EXITING_WAIT_MS = 1000

function signalLabel(sig: { num: number; name?: NodeJS.Signals }): string {
  return sig.name ?? `signal ${sig.num}`
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

/**
 * The rest of stop() once its pid file is found (not absent): `sig` is the
 * first signal, `timeoutMs` the checked timeout.
 */
export async function stopFound(
  pidFile: string,
  s: Exclude<PidFileState, { kind: 'absent' }>,
  sig: { num: number; name?: NodeJS.Signals },
  options: StopOptions,
  timeoutMs: number,
  stage: Stage,
): Promise<StopResult> {
  if (s.kind === 'free') {
    const ended = await stopSurvivors(s.path, s.pid, s.lock, sig, options.timeoutMs, stage)
    if (ended !== undefined) return ended
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
    if (!(err instanceof DaemonizeError && err.code === 'ESRCH')) throw err
    // The lock outlived pid: the processes that hold it now, if they are the service's.
    const held = await deadService().stopLockHolders({ path: s.path, pid, lock: s.lock }, sig.num, timeoutMs, stage)
    if (held !== undefined) {
      return {
        wasRunning: true,
        pid,
        signal: held.signalled.length > 0 ? sig.name : undefined,
        escalated: held.escalated,
        message: held.message + (await removeFiles(pidFile, s.lock, stage)),
      }
    }
    if (await exitedMeanwhile(pidFile, pid, s.lock, stage)) {
      return { wasRunning: false, pid, escalated: false, message: `not running (pid ${pid} exited meanwhile; nothing was signalled)` }
    }
    throw err
  }
  // Under a supervisor: TERM goes to it (it stops the daemon: TERM, its own
  // stop timeout, KILL), and only if it has not finished a while after its
  // own timeout does stop kill the whole session itself.
  let supervised: SupervisorState | undefined
  let sid = 0
  try {
    supervised = supervisorRecord(s.path, pid)
    if (supervised !== undefined) sid = native().getsid(pid)
  } catch {
    supervised = undefined
  }
  const first = supervised !== undefined ? resolveSignal('SIGTERM') : sig
  // A timeout given explicitly that is longer than that is honoured.
  const waitMs =
    supervised !== undefined ? Math.max(options.timeoutMs ?? 0, supervised.stopTimeoutMs + SUPERVISOR_STOP_GRACE_MS) : timeoutMs
  let escalated = false
  let signalled = false
  try {
    signalled = sendSignal(pidfd, first.num, pid, stage)
    if (signalled && !(await waitExit(pidfd, waitMs))) {
      escalated = true
      const killed = sendSignal(pidfd, osSignals().SIGKILL, pid, stage)
      if (supervised !== undefined && sid > 1) native().killSession(sid)
      if (killed && !(await waitExit(pidfd, KILL_WAIT_MS))) {
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
  const who = supervised !== undefined ? `the supervisor (pid ${pid})` : `pid ${pid}`
  const how = !signalled
    ? `${who} exited by itself before it could be signalled`
    : escalated
      ? supervised !== undefined
        ? `stopped the service: ${who} outlived ${signalLabel(first)} by ${waitMs} ms; it and every process of session ${sid} were killed with SIGKILL`
        : `stopped pid ${pid}: it outlived ${signalLabel(sig)} by ${timeoutMs} ms and was killed with SIGKILL`
      : supervised !== undefined
        ? `stopped the service: ${who} stopped ${whatRan(supervised)} and exited`
        : `stopped pid ${pid} with ${signalLabel(sig)}`
  // The daemon is gone either way; a pid file that cannot be removed is
  // reported, not an error (the next start reclaims it).
  const after = await removeFiles(pidFile, s.lock, stage)
  const ran = instancesRunning(supervised)
  return {
    wasRunning: true,
    pid,
    signal: signalled ? first.name : undefined,
    escalated,
    message: how + after,
    ...(supervised !== undefined ? { daemonPid: supervised.daemonPid } : {}),
    ...(ran !== undefined ? { instances: ran } : {}),
  }
}

/** With --instances: each instance that ran when the stop began (its index and pid), from the record read before it. */
function instancesRunning(st: SupervisorState | undefined): { index: number; pid: number }[] | undefined {
  if (st?.instances === undefined || st.instances.length < 2) return undefined
  return st.instances.filter((i) => i.pid !== undefined).map((i) => ({ index: i.index, pid: i.pid as number }))
}

/** What the supervisor stopped, as its record named it before the stop: the daemon, or every instance that ran. */
function whatRan(st: SupervisorState): string {
  const ran = instancesRunning(st)
  if (ran !== undefined && ran.length > 0) {
    const n = st.instances?.length ?? ran.length
    const which = ran.length === n ? `its ${n} instances` : `the ${ran.length} of its ${n} instances that ran`
    return `${which} (${pidList(ran.map((i) => i.pid), ran.length)})`
  }
  return st.daemonPid !== undefined ? `the daemon (pid ${st.daemonPid})` : 'it'
}

/**
 * Remove the pid, lock and state files of a stopped service, under the
 * lock; what happened, said as the tail of stop's message. Never throws:
 * a file left is the next start's to reclaim.
 */
async function removeFiles(pidFile: string, lock: LockRef, stage: Stage): Promise<string> {
  try {
    let removal = removePidFile(pidFile, lock, stage)
    // 'locked': most likely a concurrent stop of the same daemon, removing
    // the files right now; give it a moment.
    for (const end = Date.now() + REMOVAL_WAIT_MS; removal === 'locked' && Date.now() < end; ) {
      await delay(10)
      removal = removePidFile(pidFile, lock, stage)
    }
    // The state file is this launch's record (the supervisor's, or a one-shot daemon's).
    if (removal === 'removed') removeStateFile(statePathOf(pidFile))
    return removal === 'removed'
      ? `; removed ${pidFile}`
      : removal === 'locked'
        ? `; left ${pidFile}: its lock is held again (a new start, or a child that inherited the daemon's lock)`
        : removal === 'replaced'
          ? `; left ${pidFile}: it was replaced meanwhile`
          : ''
  } catch (err) {
    return `; could not remove ${pidFile}: ${(err as Error).message}`
  }
}

/**
 * A free lock, yet processes of the service may still run: a supervisor
 * killed with SIGKILL (its generation cleared its death signal; its
 * daemon's children stay in the session and its cgroup), or a one-shot
 * daemon that let go of its lock. End what the launch record identifies
 * (survivors.ts), then reclaim the files. undefined when nothing of it runs.
 */
async function stopSurvivors(
  pidFile: string,
  pid: number | null,
  lock: LockRef | undefined,
  sig: { num: number; name?: NodeJS.Signals },
  timeoutMs: number | undefined,
  stage: Stage,
): Promise<StopResult | undefined> {
  const { endSurvivors, findSurvivors, instancesNamed, survivorPids } = deadService()
  let found: Survivors | undefined
  try {
    found = findSurvivors(pidFile, pid)
  } catch {
    return undefined // a state file that is not ours names nothing
  }
  if (found === undefined || survivorPids(found).length === 0) return undefined
  const supervised = found.supervisorPid > 0
  // The supervisor's own stop timeout, unless one is given.
  const wait = timeoutMs ?? (supervised ? found.record.stopTimeoutMs : DEFAULT_STOP_TIMEOUT_MS)
  const r = await endSurvivors(pidFile, pid, found, sig.num, wait, stage)
  const done: string[] = []
  const how = `${signalLabel(sig)}${r.escalated ? `, then SIGKILL after ${wait} ms` : ''}`
  if (r.instances.length > 0) {
    done.push(`stopped ${instancesNamed(r.instances)}, the generations it left running (${how})`)
  } else if (r.daemon !== undefined) {
    done.push(supervised ? `stopped pid ${r.daemon}, the generation it left running (${how})` : `stopped it (${how})`)
  }
  if (r.session.length > 0) done.push(`killed ${pidList(r.session)} left in its session (SIGKILL)`)
  const cg = r.cgroup
  if (cg !== undefined && cg.killed.length > 0) done.push(`killed ${pidList(cg.killed)} left in its cgroup (cgroup.kill)`)
  if (done.length === 0) done.push('what it left exited meanwhile; nothing was signalled')
  if (cg !== undefined) done.push(cg.removed ? `removed its cgroup ${cg.dir}` : `left its cgroup ${cg.dir}: ${cg.left}`)
  const head = supervised
    ? `the supervisor (pid ${found.supervisorPid}) was gone without stopping the service (killed?): `
    : `pid ${pid} no longer held its lock but still ran: `
  return {
    wasRunning: true,
    pid: pid ?? undefined,
    signal: r.daemon !== undefined ? sig.name : r.session.length > 0 || (r.cgroup?.killed.length ?? 0) > 0 ? 'SIGKILL' : undefined,
    escalated: r.escalated,
    ...(r.daemon !== undefined ? { daemonPid: r.daemon } : {}),
    ...(r.instances.length > 0 ? { instances: r.instances } : {}),
    message: head + done.join('; ') + (lock === undefined ? '' : await removeFiles(pidFile, lock, stage)),
  }
}
