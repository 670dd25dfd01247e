// What status says of a service started with respawn: the pid file names
// the supervisor, and its record in `<pidFile>.state` (written by it alone;
// files/launch-record.ts supervisorRecord) which daemon runs now and how the
// service has fared, here in a status's fields and in words.
import { signalName } from '../signals.js'
import { formatDuration } from '../duration.js'
import type { GracefulOutcome, GracefulState, SupervisorState } from '../files/state-file.js'
import { describePhase, type InstanceStatus, instancesStatus, instancesUp } from './instances-status.js'

/** After the supervisor's own stop timeout, `stop` waits this much longer before it kills the whole session itself. */
export const SUPERVISOR_STOP_GRACE_MS = 5000

export interface SupervisorStatus {
  /** The supervisor's pid (the pid file's). */
  pid: number
  state: SupervisorState['state']
  /** The current generation of the daemon, if one runs now. */
  daemonPid?: number
  /** How long the current generation has been up. */
  uptimeMs?: number
  generation: number
  restarts: number
  lastExit?: { code: number; signal?: undefined } | { code?: undefined; signal: string }
  ready: boolean
  /** restarting: the next generation starts in this many ms. */
  restartInMs?: number
  restartDelayMs?: number
  reason?: SupervisorState['reason']
  /** False where PR_SET_CHILD_SUBREAPER is not available (qemu-user). */
  subreaper: boolean
  /** Each generation runs in a cgroup of its own (false: what it leaves behind is found through /proc). */
  cgroups: boolean
  limit: { count: number; windowMs: number }
  deathsInWindow: number
  stopTimeoutMs: number
  /** stopped: the signal the supervisor was stopped with. */
  stopSignal?: string
  /** A graceful restart's new generation while it starts, and the generation it replaced while that one drains. */
  nextPid?: number
  drainingPid?: number
  /**
   * How the last graceful restart ended, once one has and none is in
   * progress: where a `restart --graceful` whose wait ended first (exit 3)
   * sees the outcome.
   */
  lastGraceful?: LastGraceful
  /** With --instances: each instance (index, phase, pid, uptime, restarts, RSS, ready, release; instances-status.ts). */
  instances?: InstanceStatus[]
}

export interface LastGraceful {
  outcome: GracefulOutcome
  /** Its new generation, and the one it was to replace. */
  newPid?: number
  oldPid?: number
  /** In words: "the new generation pid N took over from pid M", "failed: ...". */
  message: string
}

/** A new generation's wait status (`exited`), as exit code or signal, and in words. */
export function gracefulExit(status: number): { code: number | null; signal: NodeJS.Signals | null; how: string } {
  const code = (status & 0x7f) === 0 ? (status >> 8) & 0xff : null
  const signal = code === null ? (signalName(status & 0x7f) ?? null) : null
  return { code, signal, how: code !== null ? `exited with code ${code}` : `was killed by ${signal ?? `signal ${status & 0x7f}`}` }
}

/** The last decided graceful restart, when there is one and none is in progress (a stop or an ending service says so itself). */
function lastGracefulOf(g: GracefulState): LastGraceful | undefined {
  if (g.done === 0 || g.seq !== g.done || g.outcome === undefined) return undefined
  const newOne = g.newPid !== undefined ? `the new generation pid ${g.newPid}` : 'the new generation'
  let message: string
  switch (g.outcome) {
    case 'ready':
      message = `last graceful restart: ${newOne} took over${g.oldPid !== undefined ? ` from pid ${g.oldPid}` : ''}`
      break
    case 'exited':
      message = `last graceful restart failed: ${newOne} ${gracefulExit(g.value).how} before it called ready()`
      break
    case 'not-ready':
      message = `last graceful restart failed: ${newOne} did not call ready() within ${g.value} ms`
      break
    case 'start-failed':
      message = `last graceful restart failed: ${newOne} could not be started`
      break
    default:
      return undefined
  }
  return { outcome: g.outcome, newPid: g.newPid, oldPid: g.oldPid, message }
}

function lastExitOf(s: SupervisorState): SupervisorStatus['lastExit'] {
  if (s.lastExit === undefined) return undefined
  if (s.lastExit.signal !== undefined) return { signal: signalName(s.lastExit.signal) ?? `signal ${s.lastExit.signal}` }
  return { code: s.lastExit.code as number }
}

/** withRss: read each running instance's resident memory from /proc (status does; a pure decode does not). */
export function supervisorStatus(s: SupervisorState, now = Date.now(), withRss = false): SupervisorStatus {
  return {
    pid: s.supervisorPid,
    state: s.state,
    daemonPid: s.daemonPid,
    uptimeMs: s.daemonStartedAt !== undefined ? Math.max(0, now - s.daemonStartedAt) : undefined,
    generation: s.generation,
    restarts: s.restarts,
    lastExit: lastExitOf(s),
    ready: s.ready,
    restartInMs: s.restartAt !== undefined ? Math.max(0, s.restartAt - now) : undefined,
    restartDelayMs: s.restartDelayMs,
    reason: s.reason,
    subreaper: s.subreaper,
    cgroups: s.cgroups,
    limit: { count: s.limit, windowMs: s.windowMs },
    deathsInWindow: s.deathsInWindow,
    stopTimeoutMs: s.stopTimeoutMs,
    stopSignal: s.stopSignal === undefined ? undefined : (signalName(s.stopSignal) ?? `signal ${s.stopSignal}`),
    nextPid: s.graceful.nextPid,
    drainingPid: s.graceful.drainingPid,
    lastGraceful: lastGracefulOf(s.graceful),
    instances: instancesStatus(s, now, withRss),
  }
}

function describeExit(e: SupervisorStatus['lastExit']): string {
  if (e === undefined) return 'none'
  return e.signal !== undefined ? `signal ${e.signal}` : `exit code ${e.code}`
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/** Why a supervisor that has ended did so, in words. */
export function describeEnd(s: SupervisorStatus): string {
  const last = describeExit(s.lastExit)
  switch (s.reason) {
    case 'crash-loop':
      return `gave up after ${plural(s.deathsInWindow, 'death')} within ${formatDuration(s.limit.windowMs)} (limit ${s.limit.count}/${formatDuration(s.limit.windowMs)}); last exit: ${last}`
    case 'no-respawn-exit':
      return `the daemon exited with ${last}, listed in --no-respawn-exit: not restarted`
    case 'clean-exit':
      return 'the daemon exited with code 0, which --respawn on-failure does not restart'
    case 'signal':
      return `stopped by ${s.stopSignal ?? 'a signal'} to the supervisor`
    case 'launch-failed':
      return `the first generation failed its start-up; last exit: ${last}`
    case 'start-failed':
      return `a new generation could not be started; last exit: ${last}`
    default:
      return `the supervisor ended; last exit: ${last}`
  }
}

/** The status line of a service whose supervisor holds the lock. */
export function describeRunning(s: SupervisorStatus): string {
  const parts = [`supervisor pid ${s.pid}`]
  if (s.restarts > 0 || s.lastExit !== undefined) parts.push(`${plural(s.restarts, 'restart')}`, `last exit: ${describeExit(s.lastExit)}`)
  if (s.nextPid !== undefined) parts.push(`graceful restart in progress: new generation pid ${s.nextPid} starting`)
  if (s.drainingPid !== undefined) parts.push(`replaced generation pid ${s.drainingPid} draining`)
  if (s.lastGraceful !== undefined) parts.push(s.lastGraceful.message)
  if (!s.subreaper) parts.push('no subreaper (PR_SET_CHILD_SUBREAPER unavailable): what the daemon leaves behind is found by its session only')
  const tail = parts.join(', ')
  switch (s.state) {
    case 'restarting':
      return `restarting in ${formatDuration(s.restartInMs ?? 0)} (restart ${s.restarts + 1}) (${tail})`
    case 'starting':
      return `starting (daemon pid ${s.daemonPid ?? 'not forked yet'}, ${tail})`
    case 'stopping':
      return `stopping (${tail})`
    default:
      if (s.instances !== undefined && s.instances.length > 1) {
        const pids = s.instances.map((i) => (i.pid !== undefined ? String(i.pid) : `(instance ${i.index} ${describePhase(i)})`)).join(', ')
        const n = instancesUp(s.instances)
        const head = n !== undefined && n.up < n.of ? `degraded (${n.up}/${n.of} instances up)` : 'running'
        return `${head} (${tail}, ${s.instances.length} instances: pids ${pids})`
      }
      if (s.daemonPid === undefined) return `running (${tail}; no daemon right now)`
      return `running (daemon pid ${s.daemonPid}, up ${formatDuration(s.uptimeMs ?? 0)}${s.ready ? ', ready' : ''}, ${tail})`
  }
}
