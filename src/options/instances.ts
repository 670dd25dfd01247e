// The `instances` option (--instances N): N generations of a --respawn
// service side by side, on the same sockets, each with its index in
// NODE_DAEMONIZE_INSTANCE (docs/supervision.md#instances). Checked here, at
// stage 'options', before anything is opened or spawned.
import { optionError } from '../errors.js'
import { cpuLimit } from '../proc/cpu-limit-part.js'

/** The most instances a supervisor runs (native/protocol.h ND_INSTANCES_MAX). */
export const MAX_INSTANCES = 64

/**
 * `instances`: a whole number from 1 to MAX_INSTANCES, or 'max' (the CPUs
 * this process may use: its affinity mask, as os.availableParallelism()
 * reads it, lowered to ⌈quota/period⌉ under a cgroup CPU quota
 * (proc/cpu-limit.ts), at most MAX_INSTANCES). undefined: one generation, and no
 * NODE_DAEMONIZE_INSTANCE. `respawn`: whether the service is supervised.
 */
export function resolveInstances(v: unknown, respawn: boolean): number | undefined {
  if (v === undefined) return undefined
  let n: number
  if (v === 'max') n = cpuLimit().usableCpus(MAX_INSTANCES)
  else if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_INSTANCES) n = v
  else throw optionError(`instances must be a whole number from 1 to ${MAX_INSTANCES} or 'max', got ${typeof v === 'string' ? `'${v}'` : String(v)}`)
  if (!respawn) throw optionError('instances needs respawn: the supervisor runs the instances and restarts each one')
  return n
}
