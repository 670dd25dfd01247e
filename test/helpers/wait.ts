// The one way the tests wait: poll a condition until it holds or a deadline
// passes, and on failure say what was awaited and what was last seen.
// A fixed sleep is only for proving that something does NOT happen within
// an interval; such a sleep says so in a comment where it is.

export interface UntilOptions {
  /** Give up after this long (default 20 s: generous on a loaded 2-core machine, below the 30 s test timeout). */
  timeoutMs?: number
  /** Poll every stepMs (default 10). */
  stepMs?: number
  /** Describes the state at the deadline, for the failure message (default: the probe's last value). */
  seen?: () => unknown
}

/**
 * Wait until `probe()` returns a truthy value, and return it. A probe that
 * throws fails the wait at once (a probe that tolerates "not there yet" says
 * so itself). The failure message reads "timed out after N ms waiting for
 * <what>; last seen: ...".
 */
export async function until<T>(what: string, probe: () => T, options: UntilOptions = {}): Promise<NonNullable<T>> {
  const { timeoutMs = 20_000, stepMs = 10, seen } = options
  const start = Date.now()
  for (;;) {
    const value = probe()
    if (value) return value as NonNullable<T>
    if (Date.now() - start > timeoutMs) {
      let last: unknown = value
      try {
        if (seen) last = seen()
      } catch (err) {
        last = `(cannot tell: ${(err as Error).message})`
      }
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${show(last)}`)
    }
    await new Promise((r) => setTimeout(r, stepMs))
  }
}

function show(v: unknown): string {
  const text = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v))
  return text.length > 2000 ? `${text.slice(0, 1000)} … ${text.slice(-1000)}` : text
}
