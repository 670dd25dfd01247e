// The `respawn` option: a small C supervisor restarts the daemon when it
// dies (docs/supervision.md). Validated here, at stage 'options', before
// anything is opened or spawned.
import { checkDurationMs as ms } from '../duration.js'
import { optionError } from '../errors.js'

export type RespawnMode = 'on-failure' | 'always'

export interface RespawnOptions {
  /** on-failure (default): restart after a non-zero exit or a signal; always: after any exit. */
  mode?: RespawnMode
  /** The first restart's delay; each consecutive one doubles it. Default 100 ms. */
  delayMs?: number
  /** The cap of the doubling. Default 30 s. */
  maxDelayMs?: number
  /** Give up after this many deaths ... (default 5) */
  limit?: number
  /** ... inside any window this long, at any time. Default 60 s. */
  windowMs?: number
  /** Without readiness, a generation up this long is a good start (the backoff starts over). Default 10 s. */
  minUptimeMs?: number
  /** Exit codes that mean "stop for good": never restarted, in either mode. */
  noRespawnExit?: number[]
  /** When stopped, the supervisor waits this long after SIGTERM before SIGKILL. Default 10 s. */
  stopTimeoutMs?: number
}

/** A checked policy, every field set. */
export interface RespawnPolicy {
  mode: RespawnMode
  delayMs: number
  maxDelayMs: number
  limit: number
  windowMs: number
  minUptimeMs: number
  noRespawnExit: number[]
  stopTimeoutMs: number
}

export const RESPAWN_DEFAULTS: Readonly<Omit<RespawnPolicy, 'noRespawnExit'>> = Object.freeze({
  mode: 'on-failure',
  delayMs: 100,
  maxDelayMs: 30_000,
  limit: 5,
  windowMs: 60_000,
  minUptimeMs: 10_000,
  stopTimeoutMs: 10_000,
})

/** The largest N of a crash-loop limit (the supervisor keeps N death times; native/supervise_policy.h). */
export const MAX_RESPAWN_LIMIT = 1000
/** After a ready() a generation must stay up this long to count as a good start. */
export const READY_GOOD_START_MS = 1000

const MODES: readonly RespawnMode[] = ['on-failure', 'always']
const KEYS = new Set(['mode', 'delayMs', 'maxDelayMs', 'limit', 'windowMs', 'minUptimeMs', 'noRespawnExit', 'stopTimeoutMs'])

/**
 * `respawn`: true, a mode ('on-failure' | 'always'), or an object of
 * RespawnOptions; undefined or false: no supervisor. Throws a
 * DaemonizeError at stage 'options'.
 */
export function resolveRespawn(v: unknown): RespawnPolicy | undefined {
  if (v === undefined || v === false) return undefined
  let o: RespawnOptions
  if (v === true) o = {}
  else if (typeof v === 'string') o = { mode: v as RespawnMode }
  else if (v !== null && typeof v === 'object' && !Array.isArray(v)) o = v as RespawnOptions
  else throw optionError(`respawn must be true, 'on-failure', 'always' or an object, got ${v === null ? 'null' : typeof v}`)
  for (const k of Object.keys(o)) {
    if (!KEYS.has(k)) throw optionError(`respawn.${k} is not an option (known: ${[...KEYS].join(', ')})`)
  }
  const mode = o.mode ?? RESPAWN_DEFAULTS.mode
  if (!MODES.includes(mode)) throw optionError(`respawn mode must be 'on-failure' or 'always', got ${String(mode)}`)
  const delayMs = ms('respawn.delayMs', o.delayMs, RESPAWN_DEFAULTS.delayMs)
  const maxDelayMs = ms('respawn.maxDelayMs', o.maxDelayMs, Math.max(RESPAWN_DEFAULTS.maxDelayMs, delayMs))
  if (delayMs > maxDelayMs) throw optionError(`respawn.delayMs (${delayMs}) must not exceed respawn.maxDelayMs (${maxDelayMs})`)
  const limit = o.limit ?? RESPAWN_DEFAULTS.limit
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_RESPAWN_LIMIT) {
    throw optionError(`respawn.limit must be a whole number from 1 to ${MAX_RESPAWN_LIMIT}, got ${String(limit)}`)
  }
  const windowMs = ms('respawn.windowMs', o.windowMs, RESPAWN_DEFAULTS.windowMs, { min: 1 })
  const minUptimeMs = ms('respawn.minUptimeMs', o.minUptimeMs, RESPAWN_DEFAULTS.minUptimeMs)
  const stopTimeoutMs = ms('respawn.stopTimeoutMs', o.stopTimeoutMs, RESPAWN_DEFAULTS.stopTimeoutMs)
  const codes = o.noRespawnExit ?? []
  if (!Array.isArray(codes)) throw optionError('respawn.noRespawnExit must be an array of exit codes')
  for (const c of codes) {
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c > 255) {
      throw optionError(`respawn.noRespawnExit entries must be exit codes from 0 to 255, got ${String(c)}`)
    }
  }
  const noRespawnExit = [...new Set(codes)].sort((a, b) => a - b)
  return { mode, delayMs, maxDelayMs, limit, windowMs, minUptimeMs, noRespawnExit, stopTimeoutMs }
}
