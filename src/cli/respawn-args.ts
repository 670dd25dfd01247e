// The supervision flags of `start` and `restart`:
//   --respawn [on-failure|always]   --no-respawn-exit CODE (repeatable)
//   --respawn-delay D   --respawn-max-delay D   --respawn-limit N/WINDOW
//   --min-uptime D      --stop-timeout D
// --respawn takes an optional mode: only the next word `on-failure` or
// `always` is taken as one (a script of that name is `./always`).
import type { RespawnMode, RespawnOptions } from '../options/respawn.js'
import { MAX_RESPAWN_LIMIT } from '../options/respawn.js'
import { MAX_INSTANCES } from '../options/instances.js'
import { parseDuration, UsageError } from './args.js'

export const respawnOptions = {
  respawn: { type: 'boolean' },
  // Set by normalizeRespawnArgs from `--respawn MODE` / `--respawn=MODE`.
  'respawn-mode': { type: 'string' },
  'no-respawn-exit': { type: 'string', multiple: true },
  'respawn-delay': { type: 'string' },
  'respawn-max-delay': { type: 'string' },
  'respawn-limit': { type: 'string' },
  instances: { type: 'string' },
  'max-memory': { type: 'string' },
  'min-uptime': { type: 'string' },
  'stop-timeout': { type: 'string' },
} as const

export interface RespawnValues {
  respawn?: boolean
  'respawn-mode'?: string
  'no-respawn-exit'?: string[]
  'respawn-delay'?: string
  'respawn-max-delay'?: string
  'respawn-limit'?: string
  instances?: string
  'max-memory'?: string
  'min-uptime'?: string
  'stop-timeout'?: string
}

const MODES = ['on-failure', 'always']

export const respawnUsage = `Supervision (a small C supervisor restarts the daemon; see docs/supervision.md):
  --respawn [MODE]        restart the daemon when it dies: on-failure (default:
                          after a non-zero exit or a signal) or always (after
                          any exit). The pid file then names the supervisor
  --no-respawn-exit CODE  an exit code that means "stop for good" (repeatable)
  --respawn-delay D       the first restart's delay, doubled on each
                          consecutive one (default 100ms)
  --respawn-max-delay D   the cap of that doubling (default 30s)
  --respawn-limit N/W     give up after N deaths inside any window W
                          (default 5/60s)
  --min-uptime D          without --wait-ready, a generation up this long is a
                          good start and the delay starts over (default 10s;
                          with --wait-ready: ready() and up 1s)
  --stop-timeout D        on stop, the supervisor's wait after SIGTERM before
                          SIGKILL (default 10s)
  --instances N           run N generations side by side (1 to ${MAX_INSTANCES}, or max:
                          the CPUs this process may use: its affinity mask,
                          lowered to a cgroup CPU quota), on the same
                          --listen sockets, each restarted on its own, each
                          with its index 0..N-1 in NODE_DAEMONIZE_INSTANCE;
                          needs --respawn; restart --graceful replaces them
                          one at a time (a rolling restart)
  --max-memory SIZE       replace an instance whose resident memory (RSS)
                          stays above SIZE for two readings, one a second:
                          512M, 2G, 1048576 (bytes; K, M, G are 1024-based;
                          at least 1M); with --listen and --wait-ready a new
                          one starts and the old one drains once it is
                          ready, else SIGTERM and a restart without backoff;
                          not counted as a crash; needs --respawn`

/**
 * `--respawn MODE` and `--respawn=MODE` (before any `--`) rewritten as
 * `--respawn --respawn-mode=MODE`, token for token, so that every other
 * argument keeps its index (raw bytes are looked up by index).
 */
export function normalizeRespawnArgs(args: string[]): string[] {
  const out = [...args]
  for (let i = 0; i < out.length; i++) {
    const a = out[i]
    if (a === '--') break
    if (a === '--respawn' && i + 1 < out.length && MODES.includes(out[i + 1])) {
      out[i + 1] = `--respawn-mode=${out[i + 1]}`
      i++
    } else if (a.startsWith('--respawn=')) {
      const mode = a.slice('--respawn='.length)
      if (!MODES.includes(mode)) throw new UsageError(`--respawn takes on-failure or always, got '${mode}'`)
      out[i] = `--respawn-mode=${mode}`
    }
  }
  return out
}

/** --instances N: a whole number (the range is checked with the option, options/instances.ts), or max. */
export function parseInstances(text: string | undefined): number | 'max' | undefined {
  if (text === undefined) return undefined
  if (text === 'max') return 'max'
  if (!/^\d{1,3}$/.test(text) || Number(text) < 1 || Number(text) > MAX_INSTANCES) {
    throw new UsageError(`--instances takes a whole number from 1 to ${MAX_INSTANCES} or max, got '${text}'`)
  }
  return Number(text)
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }

/** --max-memory SIZE: bytes, or a whole number with K, M or G (1024-based); the range is checked with the option (options/max-memory.ts). */
export function parseMaxMemory(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const m = /^(\d{1,16})([KMG]?)$/i.exec(text)
  const bytes = m ? Number(m[1]) * SIZE_UNITS[m[2].toUpperCase()] : NaN
  if (!m || !Number.isSafeInteger(bytes)) {
    throw new UsageError(`--max-memory takes a size in bytes, or with K, M or G (1024-based), like 512M or 2G; got '${text}'`)
  }
  if (bytes < 1024 * 1024) throw new UsageError(`--max-memory must be at least 1M (1048576 bytes), got '${text}'`)
  return bytes
}

/** An exit code, 0 to 255. */
function parseExitCode(flag: string, text: string): number {
  if (!/^\d{1,3}$/.test(text.trim()) || Number(text) > 255) throw new UsageError(`${flag} takes an exit code from 0 to 255, got '${text}'`)
  return Number(text)
}

/** N/WINDOW, e.g. 5/60s or 10/2m: N from 1 to MAX_RESPAWN_LIMIT, WINDOW a duration (seconds when bare). */
export function parseRespawnLimit(flag: string, text: string): { limit: number; windowMs: number } {
  const m = /^\s*(\d+)\s*\/\s*(\S+)\s*$/.exec(text)
  const n = m ? Number(m[1]) : NaN
  if (!m || !Number.isInteger(n) || n < 1 || n > MAX_RESPAWN_LIMIT) {
    throw new UsageError(`${flag} takes N/WINDOW, N from 1 to ${MAX_RESPAWN_LIMIT} deaths inside a window like 60s, got '${text}'`)
  }
  const windowMs = parseDuration(flag, m[2])
  if (windowMs === 0) throw new UsageError(`${flag}: the window must be longer than 0, got '${text}'`)
  return { limit: n, windowMs }
}

/** The respawn option from the flags; undefined without --respawn (and then no other supervision flag is allowed). */
export function parseRespawnValues(v: RespawnValues): RespawnOptions | undefined {
  if (v.respawn === true || v['respawn-mode'] !== undefined) return respawnFromFlags(v)
  const stray = (['no-respawn-exit', 'respawn-delay', 'respawn-max-delay', 'respawn-limit', 'min-uptime', 'stop-timeout'] as const).find(
    (k) => v[k] !== undefined,
  )
  if (stray) throw new UsageError(`--${stray} only applies with --respawn`)
  return undefined
}

/** With --respawn: its policy from the flags (a function of its own, compiled only where --respawn is given). */
function respawnFromFlags(v: RespawnValues): RespawnOptions {
  const o: RespawnOptions = {}
  const mode = v['respawn-mode']
  if (mode !== undefined) {
    if (!MODES.includes(mode)) throw new UsageError(`--respawn takes on-failure or always, got '${mode}'`)
    o.mode = mode as RespawnMode
  }
  if (v['no-respawn-exit'] !== undefined) o.noRespawnExit = v['no-respawn-exit'].map((c) => parseExitCode('--no-respawn-exit', c))
  if (v['respawn-delay'] !== undefined) o.delayMs = parseDuration('--respawn-delay', v['respawn-delay'])
  if (v['respawn-max-delay'] !== undefined) o.maxDelayMs = parseDuration('--respawn-max-delay', v['respawn-max-delay'])
  if (o.delayMs !== undefined && o.maxDelayMs !== undefined && o.delayMs > o.maxDelayMs) {
    throw new UsageError(`--respawn-delay (${v['respawn-delay']}) must not exceed --respawn-max-delay (${v['respawn-max-delay']})`)
  }
  if (v['respawn-limit'] !== undefined) Object.assign(o, parseRespawnLimit('--respawn-limit', v['respawn-limit']))
  if (v['min-uptime'] !== undefined) o.minUptimeMs = parseDuration('--min-uptime', v['min-uptime'])
  if (v['stop-timeout'] !== undefined) o.stopTimeoutMs = parseDuration('--stop-timeout', v['stop-timeout'])
  return o
}
