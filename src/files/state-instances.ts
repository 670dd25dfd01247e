// The instances of a state record (native/supervise_state.h): version 5
// names each instance's current generation (pid, start ticks); version 6
// adds each instance's own life (up, ready, restarting, gave up, its
// restarts and release, a graceful replacement under way) and the
// service-wide counts and rolling-restart marks.
import type { LeReader } from './le-fields.js'

/** Version 5: the instance count at 720, then each instance's pid (64 int32 at 728) and start ticks (64 uint64 at 984). */
const INSTANCES_AT = 720
const INSTANCE_PIDS_AT = 728
const INSTANCE_TICKS_AT = 984
export const STATE_INSTANCES_MAX = 64
/** Version 6: per instance (64 entries each), then the service-wide fields. */
const V6 = {
  flags: 1496,
  restarts: 1752,
  release: 2008,
  memoryRestarts: 2264,
  nextPids: 2520,
  drainingPids: 2776,
  startedMs: 3032,
  restartAtMs: 3544,
  memoryLimit: 4056,
  up: 4064,
  ready: 4068,
  rollInstance: 4072,
  rollStoppedAt: 4076,
} as const
/** ND_INSTANCE_F_* */
const F_UP = 1 << 0
const F_READY = 1 << 1
const F_RESTARTING = 1 << 2
const F_GAVE_UP = 1 << 3
const F_REPLACING = 1 << 4

/** What an instance is doing (version 6; a version 5 record says only up or down). */
export type InstancePhase = 'up' | 'restarting' | 'gave-up' | 'down'

/** One instance: its index, and its current generation (pid, start ticks) when one runs. */
export interface InstanceState {
  index: number
  pid?: number
  startTicks?: number
  /** Version 6 from here on. */
  phase?: InstancePhase
  ready?: boolean
  /** Its generations started after its first. */
  restarts?: number
  /** The release its current generation runs: 0 the launch's, k graceful restart k's. */
  release?: number
  /** Its replacements for --max-memory. */
  memoryRestarts?: number
  /** Its current generation's fork (ms since the epoch). */
  startedAt?: number
  /** Restarting: when its next generation starts (ms since the epoch). */
  restartAt?: number
  /** A graceful replacement's new generation while it starts, and the replaced one while it drains. */
  nextPid?: number
  drainingPid?: number
}

/** The service-wide fields of a version 6 record about its instances. */
export interface InstancesSummary {
  up: number
  ready: number
  /** --max-memory in bytes (undefined: none). */
  memoryLimitBytes?: number
  /** A rolling restart replaces this instance now. */
  rollingAt?: number
  /** The last rolling restart stopped at this instance (its new generation failed). */
  rollStoppedAt?: number
}

/** The instances of a version 5 or 6 record (undefined when it names none: a one-shot record). */
export function decodeInstances(r: LeReader, version: number, ticks: (o: number) => number | undefined): InstanceState[] | undefined {
  if (version < 5) return undefined
  const n = r.u32(INSTANCES_AT)
  if (n < 1 || n > STATE_INSTANCES_MAX) return undefined
  const out: InstanceState[] = []
  for (let i = 0; i < n; i++) {
    const pid = r.i32(INSTANCE_PIDS_AT + 4 * i)
    const base: InstanceState = pid > 0 ? { index: i, pid, startTicks: ticks(INSTANCE_TICKS_AT + 8 * i) } : { index: i }
    out.push(version >= 6 ? { ...base, ...decodeLife(r, i, pid > 0) } : base)
  }
  return out
}

function decodeLife(r: LeReader, i: number, up: boolean): Partial<InstanceState> {
  const flags = r.u32(V6.flags + 4 * i)
  const pidAt = (o: number) => {
    const p = r.i32(o + 4 * i)
    return p > 0 ? p : undefined
  }
  const timeAt = (o: number) => {
    const t = Number(r.i64(o + 8 * i))
    return t > 0 ? t : undefined
  }
  const phase: InstancePhase =
    up && (flags & F_UP) !== 0 ? 'up' : (flags & F_GAVE_UP) !== 0 ? 'gave-up' : (flags & F_RESTARTING) !== 0 ? 'restarting' : 'down'
  return {
    phase,
    ready: phase === 'up' && (flags & F_READY) !== 0,
    restarts: r.u32(V6.restarts + 4 * i),
    release: r.u32(V6.release + 4 * i),
    memoryRestarts: r.u32(V6.memoryRestarts + 4 * i),
    startedAt: phase === 'up' ? timeAt(V6.startedMs) : undefined,
    restartAt: phase === 'restarting' ? timeAt(V6.restartAtMs) : undefined,
    nextPid: (flags & F_REPLACING) !== 0 ? pidAt(V6.nextPids) : undefined,
    drainingPid: pidAt(V6.drainingPids),
  }
}

/** The service-wide instance fields of a version 6 record (undefined before). */
export function decodeInstancesSummary(r: LeReader, version: number): InstancesSummary | undefined {
  if (version < 6) return undefined
  const limit = r.u64(V6.memoryLimit)
  const at = (o: number) => {
    const v = r.u32(o)
    return v < STATE_INSTANCES_MAX ? v : undefined
  }
  return {
    up: r.u32(V6.up),
    ready: r.u32(V6.ready),
    memoryLimitBytes: limit > 0n && limit <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(limit) : undefined,
    rollingAt: at(V6.rollInstance),
    rollStoppedAt: at(V6.rollStoppedAt),
  }
}
