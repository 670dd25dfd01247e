// The one rule for every duration, from the command line (`--wait-ready 5s`,
// `--respawn-delay 100ms`, `stop --timeout 10`) or from the API
// (`waitReadyMs`, `respawn.delayMs`, `timeoutMs`): 0, or from 1 ms to
// MAX_DURATION_MS. The helper and the supervisor keep time in whole
// milliseconds (their timers and the plan count ms), so a positive duration
// under 1 ms cannot be kept: it is refused, never rounded to 0 ("do not
// wait") nor quietly up to 1 ms. The CLI turns text into milliseconds
// (cli/args.ts parseDuration) and both check the value here; a duration
// is said for people by formatDuration.
import { optionError } from './errors.js'

/** The plan carries durations as 32-bit counts of milliseconds (about 49.7 days). */
export const MAX_DURATION_MS = 0xffffffff
/** The finest duration the helper and the supervisor can keep. */
export const MIN_DURATION_MS = 1

export interface DurationRule {
  /** The least value allowed: 0 ("none", "do not wait") by default; 1 where 0 means nothing (a window). */
  min?: 0 | 1
  /** The value must be a whole number of ms (the plan's); false where only our own timers use it. */
  whole?: boolean
}

/** How a number of milliseconds reads in a message: 0.0001, not 1e-4. */
function shown(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) < 1e-6 && ms !== 0 ? ms.toFixed(20).replace(/0+$/, '') : String(ms)
}

/**
 * Why `ms` breaks the rule, said after the option's name ("must be ..."),
 * or undefined when it is a duration. `given`: the text it was read from,
 * shown in the message (the CLI's).
 */
export function durationProblem(ms: number, { min = 0, whole = true }: DurationRule = {}, given?: string): string | undefined {
  const range = min === 0 ? '0 or at least 1 ms' : 'at least 1 ms'
  const got = given === undefined ? `got ${shown(ms)}` : `got '${given}'`
  if (typeof ms !== 'number' || Number.isNaN(ms) || ms < 0) return `must be ${range}, ${got}`
  if (ms > 0 && ms < MIN_DURATION_MS) {
    const inMs = given === undefined || given.trim() === `${shown(ms)}ms` ? '' : ` (${shown(ms)} ms)`
    return `must be ${range}, ${got}${inMs}: the helper and the supervisor keep time in whole milliseconds`
  }
  if (ms < min) return `must be ${range}, ${got}`
  if (ms > MAX_DURATION_MS) return `is too long: at most ${MAX_DURATION_MS} ms (about 49.7 days), ${got}`
  if (whole && !Number.isInteger(ms)) return `must be a whole number of milliseconds, ${got}`
  return undefined
}

/**
 * An API duration option, checked against the rule: its value, `fallback`
 * when undefined, or a DaemonizeError at stage `options`.
 */
export function checkDurationMs(name: string, v: unknown, fallback: number, rule: DurationRule = {}): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number') throw optionError(`${name} must be a number of milliseconds, got ${typeof v}`)
  const problem = durationProblem(v, rule)
  if (problem !== undefined) throw optionError(`${name} ${problem}`)
  return v
}

/** A duration for people: 850 ms, 1.6 s, 2 min 5 s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`
  if (ms < 60_000) return `${(Math.round(ms / 100) / 10).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  if (s % 60 === 0 && s < 3600) return `${s / 60} min`
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  return h > 0 ? `${h} h ${m} min` : `${m} min ${s % 60} s`
}
