// The `maxMemoryBytes` option (--max-memory SIZE): the supervisor reads each
// instance's resident set once a second and replaces an instance that stays
// above this for two readings (docs/supervision.md#max-memory). Checked
// here, at stage 'options', before anything is opened or spawned.
import { optionError } from '../errors.js'

/** Below this no Node.js process fits: every generation would be replaced at once. */
export const MIN_MAX_MEMORY_BYTES = 1024 * 1024

/**
 * `maxMemoryBytes`: a whole number of bytes from MIN_MAX_MEMORY_BYTES up to
 * Number.MAX_SAFE_INTEGER; undefined: no limit. `respawn`: whether the
 * service is supervised (the supervisor does the readings).
 */
export function resolveMaxMemory(v: unknown, respawn: boolean): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < MIN_MAX_MEMORY_BYTES) {
    throw optionError(`maxMemoryBytes must be a whole number of bytes from ${MIN_MAX_MEMORY_BYTES} (1M) up, got ${typeof v === 'string' ? `'${v}'` : String(v)}`)
  }
  if (!respawn) throw optionError('maxMemoryBytes needs respawn: the supervisor reads each instance\'s memory and replaces it')
  return v
}
