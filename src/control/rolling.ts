// A rolling restart (a graceful restart of a service with --instances
// N > 1): the supervisor replaces one instance at a time, each new one ready
// before the old one gets SIGTERM (native/graceful.c). What the restart
// client says about it: how long it waits, and which instances run which
// release once it is over (supervise_state.h instance_release).
import type { SupervisorState } from '../files/state-file.js'

/** One instance as a rolling restart's result or error reports it. */
export interface RolledInstance {
  index: number
  /** Its current generation (undefined: none runs right now). */
  pid?: number
  /** The release it runs: 0 the launch's, k graceful restart k's. */
  release?: number
}

/** The new generation's exec deadline in the supervisor (native/protocol.h ND_EXEC_DEADLINE_MS). */
const EXEC_DEADLINE_MS = 30_000
/** What one step takes on top of its readiness wait (a fork, an exec, the state's writes), and the wait's own margin. */
const STEP_SLACK_MS = 10_000

/**
 * The longest a graceful restart of n instances can take before its
 * verdict: one exec deadline (a step that hangs before exec ends the roll),
 * each step's readiness wait with its margin, then the stop of a new
 * generation that missed readiness. With n = 1 this is the single
 * hand-over's wait: 30 s + the readiness timeout + 10 s + the stop timeout.
 */
export function verdictWaitMs(n: number, waitReadyMs: number, stopTimeoutMs: number): number {
  return EXEC_DEADLINE_MS + n * (waitReadyMs + STEP_SLACK_MS) + stopTimeoutMs
}

/** Every instance with its pid and release, from the state record. */
export function rolledInstances(st: SupervisorState): RolledInstance[] {
  return (st.instances ?? []).map((i) => ({ index: i.index, pid: i.pid, release: i.pid !== undefined ? i.release : undefined }))
}

/** "0-2", "0, 2, 5": instance indexes, runs of consecutive ones joined. */
function ranges(indexes: number[]): string {
  const out: string[] = []
  for (let k = 0; k < indexes.length; ) {
    let j = k
    while (j + 1 < indexes.length && indexes[j + 1] === indexes[j] + 1) j++
    out.push(j > k ? `${indexes[k]}-${indexes[j]}` : String(indexes[k]))
    k = j + 1
  }
  return out.join(', ')
}

/**
 * Which instances run which release: "instances 0-1 run release 3 (the new
 * one); instances 2-3 run release 2; instance 4 runs none right now".
 */
export function releaseSummary(st: SupervisorState): string {
  const newest = st.graceful.seq
  const by = new Map<number | undefined, number[]>()
  for (const i of rolledInstances(st)) by.set(i.release, [...(by.get(i.release) ?? []), i.index])
  const keys = [...by.keys()].sort((a, b) => (b ?? -1) - (a ?? -1))
  return keys
    .map((release) => {
      const idx = by.get(release) as number[]
      const who = `${idx.length > 1 ? 'instances' : 'instance'} ${ranges(idx)}`
      const verb = idx.length > 1 ? 'run' : 'runs'
      if (release === undefined) return `${who} ${verb} none right now`
      return `${who} ${verb} release ${release}${release === newest ? ' (the new one)' : release === 0 ? ' (the launch\'s)' : ''}`
    })
    .join('; ')
}
