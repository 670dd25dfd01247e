// Graceful restart of a service started with respawn and readiness: ask its
// supervisor (SIGUSR2, through a pidfd, after checking that the pid holds the
// lock) to start a new generation alongside the current one and hand over
// once the new one is ready; learn the outcome from the supervisor's state
// file (`<pidFile>.state`).
//
// Why the state file: it is written by the supervisor alone, through a
// descriptor no generation ever gets, and read here bounded from a file that
// must be the pid file owner's and writable by nobody else
// (files/state-file.ts). The service's user can write the log, its own
// sockets and anything it is handed, so none of those could carry a verdict
// that a root caller trusts. The request carries no data: the supervisor
// records the sender's pid (from the kernel's siginfo) with the attempt it
// began or with the refusal, so each caller knows which answer is its own.
import { closeSync, constants as fsc, lstatSync, openSync, readlinkSync } from 'node:fs'
import { constants as osc } from 'node:os'
import { checkDurationMs } from '../duration.js'
import { DaemonizeError, ERR_RESTART_PENDING, errnoFields, type Stage } from '../errors.js'
import { openDaemon } from './daemon-pidfd.js'
import { sendSignal, waitExit } from '../proc/pidfd.js'
import { logTail } from '../logs/tail.js'
import { inspectPidFile } from '../files/pidfile-inspect.js'
import { NATIVE_STAGES } from '../protocol.js'
import { gracefulExit } from './supervisor-status.js'
import { releaseSummary, rolledInstances, verdictWaitMs, type RolledInstance } from './rolling.js'
import { openSupervisorState, readStateFd, statePathOf, type GracefulRefusal, type GracefulState, type SupervisorState } from '../files/state-file.js'

export interface GracefulRestartOptions {
  /**
   * How long to wait for the supervisor's verdict once it was asked
   * (default: the new generation's exec deadline, 30 s, plus its readiness
   * timeout, plus the stop timeout, plus 10 s). Waiting for a replaced
   * generation that still drains comes on top, bounded by the stop timeout.
   */
  timeoutMs?: number
}

export interface GracefulRestartResult {
  /** The supervisor's pid (the pid file's). */
  pid: number
  /** The new generation, ready and serving. */
  daemonPid: number
  /** The generation it replaced: it got SIGTERM and drains (SIGKILL after the stop timeout). */
  oldPid?: number
  /** The new generation's own time from fork to ready(), in ms. */
  readyMs: number
  /** From the supervisor's receipt of the request to the hand-over, in ms. */
  tookMs: number
  /**
   * With --instances N > 1 (a rolling restart): every instance, its pid and
   * the release it runs (all the new one). daemonPid and oldPid are then
   * the last instance's.
   */
  instances?: RolledInstance[]
  message: string
}

/** The supervisor's signal for a graceful restart (documented for init scripts). */
export const GRACEFUL_SIGNAL = osc.signals.SIGUSR2
const DRAIN_SLACK_MS = 5000
const POLL_MS = 10
/** The supervisor's log descriptor (native/protocol.h ND_HELPER_FD_LOG). */
const SUPERVISOR_LOG_FD = 5

const REFUSED: Record<GracefulRefusal, string> = {
  'in-progress': 'a graceful restart is already in progress',
  draining: 'the generation replaced by the last graceful restart is still draining',
  'not-ready': 'no generation is up and ready to hand over from (starting or restarting)',
  stopping: 'the service is being stopped',
  'no-wait-ready': 'the service was started without --wait-ready, so no readiness can gate the hand-over',
  // Only a supervisor of an earlier release says so (state version 5).
  instances: 'the service runs several instances (--instances), and its supervisor predates the rolling restart',
}

/**
 * Restart the service named by a pid file without a moment where nobody
 * serves: its supervisor starts a new generation from the command line the
 * service was started with (the code on disk now), waits for its ready()
 * (up to --wait-ready), and only then sends the old one SIGTERM. Resolves
 * once the new generation serves. Rejects with a DaemonizeError (stage
 * 'graceful') when it is refused, or when the new generation exits, fails
 * to start or misses readiness: then the new one was killed and the old one
 * keeps serving (`pid` in the error is the old one; `logTail` the log's last
 * lines). When `timeoutMs` ends before the verdict, rejects with code
 * ERR_DAEMON_RESTART_PENDING: the attempt goes on and may still complete;
 * status() of the pid file shows its outcome (`supervisor.lastGraceful`).
 */
export async function gracefulRestart(pidFile: string, options: GracefulRestartOptions = {}): Promise<GracefulRestartResult> {
  return handOver(pidFile, options, `status(${JSON.stringify(pidFile)})`)
}

/**
 * gracefulRestart(), with `seeOutcome` in the message of a restart still
 * pending: how the caller's user sees the outcome (the CLI names its own
 * status command).
 */
export async function handOver(
  pidFile: string,
  options: GracefulRestartOptions,
  seeOutcome: string,
  onWait?: (waitMs: number, instances: number) => void,
): Promise<GracefulRestartResult> {
  const stage: Stage = 'graceful'
  const timeoutMs = options.timeoutMs === undefined ? undefined : checkDurationMs('timeoutMs', options.timeoutMs, 0, { whole: false })
  const fail = (message: string, code: string, extra: Partial<ConstructorParameters<typeof DaemonizeError>[1]> = {}) =>
    new DaemonizeError(message, { stage, code, path: pidFile, ...extra })
  const s = inspectPidFile(pidFile, stage)
  if (s.kind === 'absent') throw fail(`not running (no pid file ${pidFile}); nothing to restart`, 'ESRCH')
  if (s.kind === 'free') throw fail(`not running (pid file ${pidFile} is stale: its lock is free); nothing to restart`, 'ESRCH')
  if (s.pid === null) throw fail(`still starting (pid file ${pidFile} holds no pid yet); try again`, 'EAGAIN')
  const pid = s.pid
  const pidfd = openDaemon({ path: s.path, pid, lock: s.lock }, stage)
  // The state file is read through one fd for the whole wait: after the
  // supervisor's end (a stop meanwhile), its last record stays readable
  // even once the stop has removed the file.
  let stateFd: number | undefined
  try {
    const statePath = statePathOf(s.path)
    let owner: number
    try {
      owner = lstatSync(s.path).uid
    } catch (err) {
      throw fail(`pid file ${pidFile} is gone (${(err as NodeJS.ErrnoException).code}): the service stopped meanwhile`, 'ESRCH', { pid })
    }
    stateFd = openSupervisorState(statePath, owner)
    const read = () => {
      const r = stateFd === undefined ? undefined : readStateFd(stateFd, statePath)
      return r?.supervisorPid === pid ? r : undefined
    }
    let st = read()
    if (st === undefined) {
      throw fail(
        `pid ${pid} was not started with --respawn: a graceful restart needs the supervisor, which starts the new generation alongside the old one; restart it with --respawn --wait-ready (and --listen)`,
        'ERR_DAEMON_NOT_SUPERVISED',
        { pid },
      )
    }
    if (!st.waitReady) throw fail(`graceful restart refused: ${REFUSED['no-wait-ready']}`, 'ERR_DAEMON_NO_WAIT_READY', { pid })
    // The generation the last graceful restart replaced may still be
    // draining: wait for it (the supervisor kills it at its stop timeout).
    const drainEnd = Date.now() + st.stopTimeoutMs + DRAIN_SLACK_MS
    while (st.graceful.drainingPid !== undefined && Date.now() < drainEnd) {
      if (await waitExit(pidfd, POLL_MS)) throw supervisorGone(fail, pid)
      st = read() ?? st
    }
    const refusedNow = precheck(st)
    if (refusedNow !== undefined) throw refusal(fail, pid, refusedNow, st.graceful)
    const before = st.graceful
    if (!sendSignal(pidfd, GRACEFUL_SIGNAL, pid, stage)) throw supervisorGone(fail, pid)
    const me = process.pid
    // The longest an attempt can take: an exec, each instance's readiness
    // wait (one at a time), then a stop of a new one that missed it.
    const n = st.instances?.length ?? 1
    const waitMs = timeoutMs ?? verdictWaitMs(n, before.waitReadyMs, st.stopTimeoutMs)
    if (n > 1) onWait?.(waitMs, n)
    const end = Date.now() + waitMs
    for (;;) {
      const exited = await waitExit(pidfd, POLL_MS)
      const now = read()
      if (now === undefined) throw supervisorGone(fail, pid)
      const g = now.graceful
      if (g.refusals > before.refusals && g.refusedPid === me && g.refusedWhy !== undefined) throw refusal(fail, pid, g.refusedWhy, g)
      if (g.seq > before.seq) {
        // Another request began the attempt our signal met: ours was merged
        // into it or refused; either way this one is not ours to report.
        if (g.requester !== me) throw refusal(fail, pid, 'in-progress', g)
        if (g.done >= g.seq) return verdict(fail, pid, g, now)
      }
      if (exited) throw supervisorGone(fail, pid)
      if (Date.now() >= end) throw pending(fail, pid, waitMs, g.seq > before.seq, now, seeOutcome)
    }
  } finally {
    closeSync(pidfd)
    if (stateFd !== undefined) closeSync(stateFd)
  }
}

type Fail = (message: string, code: string, extra?: Partial<ConstructorParameters<typeof DaemonizeError>[1]>) => DaemonizeError

/** What the supervisor would refuse now, said before anything is sent. */
function precheck(st: SupervisorState): GracefulRefusal | undefined {
  if (st.graceful.seq !== st.graceful.done) return 'in-progress'
  if (st.graceful.drainingPid !== undefined) return 'draining'
  if (st.state === 'stopping') return 'stopping'
  // With instances, any one up and ready can be handed over from (the others may be restarting).
  const several = (st.instances?.length ?? 1) > 1 && st.instancesSummary !== undefined
  if (st.state !== 'running' || st.daemonPid === undefined || (several ? st.instancesSummary?.ready === 0 : !st.ready)) return 'not-ready'
  return undefined
}

function refusal(fail: Fail, pid: number, why: GracefulRefusal, g: GracefulState): DaemonizeError {
  const by = why === 'in-progress' && g.requester > 0 ? ` (asked for by pid ${g.requester})` : ''
  return fail(`graceful restart refused: ${REFUSED[why]}${by}; nothing was started`, why === 'no-wait-ready' ? 'ERR_DAEMON_NO_WAIT_READY' : 'EBUSY', { pid })
}

/**
 * The wait ended before the verdict: the attempt goes on (or the supervisor
 * has yet to begin it: the signal is pending), so this is not a failure of
 * the restart, and the old generation may not serve for long.
 */
function pending(fail: Fail, pid: number, waitMs: number, begun: boolean, st: SupervisorState, seeOutcome: string): DaemonizeError {
  const g = st.graceful
  const where = [
    g.nextPid !== undefined ? `new generation pid ${g.nextPid} starting` : begun ? 'its new generation not forked yet' : 'the supervisor has yet to begin it',
  ]
  const n = st.instances?.length ?? 1
  const rollingAt = st.instancesSummary?.rollingAt
  if (n > 1 && rollingAt !== undefined) where.push(`the rolling restart replaces instance ${rollingAt} of 0-${n - 1}; ${releaseSummary(st)}`)
  else if (st.daemonPid !== undefined) where.push(`the old one, pid ${st.daemonPid}, serves until it is ready`)
  const message = `no verdict from the supervisor (pid ${pid}) within ${waitMs} ms: the graceful restart goes on and may still complete (${where.join('; ')})`
  return fail(`${message}; see its outcome with ${seeOutcome}`, ERR_RESTART_PENDING, { pid })
}

function supervisorGone(fail: Fail, pid: number): DaemonizeError {
  return fail(`the supervisor (pid ${pid}) exited during the graceful restart`, 'ESRCH', { pid })
}

/** The decided attempt as a result, or as the error that says why the old generation still serves. */
function verdict(fail: Fail, pid: number, g: GracefulState, st: SupervisorState): GracefulRestartResult {
  const n = st.instances?.length ?? 1
  if (g.outcome === 'ready' && n > 1) {
    const instances = rolledInstances(st)
    return {
      pid,
      daemonPid: g.newPid ?? st.daemonPid ?? 0,
      oldPid: g.oldPid,
      readyMs: g.readyMs,
      tookMs: g.tookMs,
      instances,
      message: `rolling restart: ${n} instances replaced one at a time in ${g.tookMs} ms, each new one ready before the old one got SIGTERM and drained (SIGKILL after ${st.stopTimeoutMs} ms); ${releaseSummary(st)}; pids ${instances.map((i) => i.pid ?? '-').join(', ')}`,
    }
  }
  if (g.outcome === 'ready' && g.newPid !== undefined) {
    const old = g.oldPid !== undefined ? `; the old one (pid ${g.oldPid}) got SIGTERM and drains (SIGKILL after ${st.stopTimeoutMs} ms)` : ''
    return {
      pid,
      daemonPid: g.newPid,
      oldPid: g.oldPid,
      readyMs: g.readyMs,
      tookMs: g.tookMs,
      message: `graceful restart: the new generation (pid ${g.newPid}) was ready after ${g.readyMs} ms and serves${old}`,
    }
  }
  const stoppedAt = st.instancesSummary?.rollStoppedAt
  const at = n > 1 && stoppedAt !== undefined ? ` of instance ${stoppedAt}` : ''
  const newOne = g.newPid !== undefined ? `the new generation${at} (pid ${g.newPid})` : `the new generation${at}`
  // With instances: the roll stopped there; which instances run which release.
  const serving =
    n > 1 ? `; the rolling restart stopped there: ${releaseSummary(st)}` : st.daemonPid !== undefined ? `; the old one (pid ${st.daemonPid}) keeps serving` : ''
  const { text: tail, path } = supervisorLogTail(pid)
  const withTail = (msg: string) => msg + serving + (tail !== undefined ? `; last lines of ${path}:\n${tail}` : '')
  const fields = { pid: st.daemonPid ?? pid, logTail: tail, path: path ?? undefined, ...(n > 1 ? { instances: rolledInstances(st) } : {}) }
  switch (g.outcome) {
    case 'exited': {
      const { code, signal, how } = gracefulExit(g.value)
      return throwing(fail(withTail(`graceful restart failed: ${newOne} ${how} before it called ready()`), 'ERR_DAEMON_EXITED', { ...fields, exitCode: code, signal }))
    }
    case 'not-ready':
      return throwing(fail(withTail(`graceful restart failed: ${newOne} did not call ready() within ${g.value} ms and was stopped (SIGTERM, SIGKILL after ${st.stopTimeoutMs} ms)`), 'ERR_DAEMON_TIMEOUT', fields))
    case 'start-failed': {
      const step = NATIVE_STAGES[g.stage - 1] ?? 'fork'
      const e = errnoFields(g.value > 0 ? g.value : 5)
      return throwing(
        fail(withTail(`graceful restart failed: ${newOne} failed to start at step ${step} (${e.code})`), e.code, { ...fields, errno: e.errno }),
      )
    }
    case 'stopped':
      return throwing(fail(`graceful restart ended: the service was stopped meanwhile; nothing new started`, 'ERR_DAEMON_STOPPED', { pid }))
    default:
      return throwing(fail(withTail(`graceful restart ended: the running generation ended the service meanwhile`), 'ERR_DAEMON_ENDED', { pid }))
  }
}

function throwing(err: DaemonizeError): never {
  throw err
}

/**
 * The last lines of the service's log, read through the supervisor's own
 * descriptor of it (/proc/<pid>/fd/5 re-opens that very file, read-only),
 * bounded as every log tail is (logs/tail.ts).
 */
function supervisorLogTail(pid: number): { text?: string; path?: string } {
  let fd: number
  try {
    fd = openSync(`/proc/${pid}/fd/${SUPERVISOR_LOG_FD}`, fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY)
  } catch {
    return {}
  }
  try {
    let path: string | undefined
    try {
      path = readlinkSync(`/proc/${pid}/fd/${SUPERVISOR_LOG_FD}`)
    } catch {
      path = undefined
    }
    return { text: logTail(fd), path }
  } finally {
    closeSync(fd)
  }
}
