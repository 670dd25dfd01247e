// Encodes the plan the helper reads from fd 3 (layout: native/protocol.h).
import { LeWriter } from '../files/le-fields.js'
import { native } from '../native.js'
import type { Launch } from '../options/resolve.js'
import type { RespawnPolicy } from '../options/respawn.js'
import { listenEnv } from './sockets.js'

/**
 * Tests only: NODE_DAEMONIZE_TEST_FAULT in the caller's environment arms
 * fault-injection points in the helper (see docs/lifecycle.md), a comma-
 * separated list of: helper-stop-after-fork makes the helper stop itself
 * (SIGSTOP) right after its fork, before it reports the daemon's pid;
 * no-subreaper makes a supervisor (respawn) act as if
 * PR_SET_CHILD_SUBREAPER had failed; no-cgroup makes it act as if it could
 * make no cgroup per generation.
 */
export const ENV_TEST_FAULT = 'NODE_DAEMONIZE_TEST_FAULT'

export interface Plan {
  cwd: string
  /** Files the daemon opens for reading, as its own user, before exec. */
  checks: string[]
  execPath: string
  /** Bytes pass through as given; strings are encoded as UTF-8. */
  argv: (string | Buffer)[]
  env: (string | Buffer)[]
  umask: number
  /** Start-up window in ms; 0: the helper leaves once the daemon exec'd. */
  windowMs: number
  waitReady: boolean
  keepOnTimeout: boolean
  /** The caller hands the helper a locked lock file (the daemon's fd 3, 3+N after N sockets). */
  hasLock: boolean
  /** The caller hands the helper the pid file to write the daemon's pid into. */
  hasPidFile?: boolean
  ids?: { uid: number; gid: number; groups: number[] }
  maxOpenFiles?: number
  coreLimit?: number
  /** Check every step up to exec, then stop instead of exec'ing (a preflight). */
  dryRun?: boolean
  /** Tests only: stop the helper right after its fork. */
  faultStopAfterFork?: boolean
  /** Supervise: the helper forks a supervisor that forks every generation. */
  respawn?: RespawnPolicy
  /** With respawn: the instances (0: none asked for; the env holds the instance slot otherwise). */
  instances?: number
  /** With respawn: --max-memory in bytes (0 or undefined: none). */
  maxMemoryBytes?: number
  /** Tests only: the supervisor acts as if it could not be a subreaper. */
  faultNoSubreaper?: boolean
  /** Tests only: the supervisor acts as if it could make no cgroup per generation. */
  faultNoCgroup?: boolean
  /** Listening sockets handed to the helper (fds 9..); env must end with the LISTEN_PID slot. */
  nsockets?: number
  /** `run`: the helper is exec'd in place of the caller as the supervisor (launch/run.ts); respawn must be set. */
  run?: RunPlan
}

/** `run`'s part of the plan (native/protocol.h ND_PLAN_RUN). */
export interface RunPlan {
  /** No --respawn: the app's end is the run's end. */
  once: boolean
  forwardUsr1: boolean
  /** The helper's fd 5 is a --log-file: the app's stdout and stderr. */
  logFile: boolean
  /** The ready file's name in the directory at the helper's fd 6. */
  readyName?: string
  /** NOTIFY_SOCKET: the supervisor sends READY=1 there. */
  notifySocket?: string
}

/** The plan of a checked launch: a real one, or a dry run of it. */
/** The fault-injection points NODE_DAEMONIZE_TEST_FAULT arms (tests only). */
function testFaults(): string[] {
  return (process.env[ENV_TEST_FAULT] ?? '').split(',')
}

export function launchPlan(launch: Launch, how: { hasLock: boolean; dryRun?: boolean }): Plan {
  const faults = testFaults()
  const supervised = !how.dryRun && launch.respawn !== undefined
  return {
    cwd: launch.cwd,
    checks: launch.checks,
    execPath: launch.execPath,
    argv: launch.argv,
    // A dry run gets no sockets: it checks the steps, it serves nothing.
    env: how.dryRun ? launch.env : [...launch.env, ...listenEnv(launch.listeners)],
    nsockets: how.dryRun ? 0 : launch.listeners.length,
    umask: launch.umask,
    // A dry run ends at exec: no window, nothing to wait for.
    windowMs: how.dryRun ? 0 : launch.windowMs,
    waitReady: how.dryRun ? false : launch.waitReady,
    keepOnTimeout: launch.keepOnTimeout,
    hasLock: how.hasLock,
    // The lock file and the pid file come together: the helper writes the pid.
    hasPidFile: how.hasLock,
    ids: launch.credentials,
    maxOpenFiles: launch.maxOpenFiles,
    coreLimit: launch.coreDumps ? undefined : 0,
    dryRun: how.dryRun === true,
    faultStopAfterFork: !how.dryRun && faults.includes('helper-stop-after-fork'),
    // A dry run checks the daemon's steps; no supervisor is involved.
    respawn: how.dryRun ? undefined : launch.respawn,
    instances: how.dryRun ? undefined : launch.instances,
    maxMemoryBytes: how.dryRun ? undefined : launch.maxMemoryBytes,
    faultNoSubreaper: supervised && faults.includes('no-subreaper'),
    faultNoCgroup: supervised && faults.includes('no-cgroup'),
  }
}

export function encodePlan(plan: Plan): Buffer {
  const c = native().constants
  const run = plan.run === undefined ? [] : [plan.run.readyName ?? '', plan.run.notifySocket ?? '']
  const strings = [plan.cwd, plan.execPath, ...plan.checks, ...plan.argv, ...plan.env, ...run]
  const blob = stringBlob(strings)
  const stringsLen = blob.length
  const groups = plan.ids?.groups ?? []

  let flags = 0
  if (plan.hasLock) flags |= c.ND_PLAN_HAS_LOCK
  if (plan.hasPidFile) flags |= c.ND_PLAN_HAS_PIDFILE
  if (plan.waitReady) flags |= c.ND_PLAN_WANT_READY
  if (plan.keepOnTimeout) flags |= c.ND_PLAN_KEEP_ON_TIMEOUT
  if (plan.ids) flags |= c.ND_PLAN_SET_IDS
  if (plan.maxOpenFiles !== undefined) flags |= c.ND_PLAN_SET_NOFILE
  if (plan.coreLimit !== undefined) flags |= c.ND_PLAN_SET_CORE
  if (plan.dryRun) flags |= c.ND_PLAN_DRY_RUN
  if (plan.faultStopAfterFork) flags |= c.ND_PLAN_FAULT_STOP_AFTER_FORK
  if (plan.respawn) flags |= c.ND_PLAN_RESPAWN
  if (plan.faultNoSubreaper) flags |= c.ND_PLAN_FAULT_NO_SUBREAPER
  if (plan.faultNoCgroup) flags |= c.ND_PLAN_FAULT_NO_CGROUP
  if (plan.run) {
    flags |= c.ND_PLAN_RUN
    if (plan.run.once) flags |= c.ND_PLAN_RUN_ONCE
    if (plan.run.forwardUsr1) flags |= c.ND_PLAN_RUN_FORWARD_USR1
    if (plan.run.logFile) flags |= c.ND_PLAN_RUN_LOG_FILE
    if (plan.run.readyName !== undefined) flags |= c.ND_PLAN_RUN_READY_FILE
  }

  const headSize = c.PLAN_HEADER_SIZE + groups.length * 8
  const respawnSize = plan.respawn ? c.RESPAWN_PLAN_SIZE : 0
  const out = Buffer.alloc(headSize + respawnSize + stringsLen)
  const f = new LeWriter(out)
  f.u32(c.ND_PLAN_MAGIC)
  f.u32(c.ND_PLAN_VERSION)
  f.u32(flags)
  f.u32(plan.umask)
  f.u32(plan.windowMs)
  f.u32(groups.length)
  f.i64(plan.ids?.uid ?? -1)
  f.i64(plan.ids?.gid ?? -1)
  f.u64(plan.maxOpenFiles ?? 0)
  f.u64(plan.coreLimit ?? 0)
  f.u32(plan.argv.length)
  f.u32(plan.env.length)
  f.u64(stringsLen)
  f.u32(plan.checks.length)
  f.u32(plan.nsockets ?? 0)
  if (f.at !== c.PLAN_HEADER_SIZE) throw new Error(`plan header is ${f.at} bytes, the helper expects ${c.PLAN_HEADER_SIZE}`)
  for (const g of groups) f.i64(g)
  if (plan.respawn) encodeRespawn(new LeWriter(out, headSize), plan.respawn, plan.instances ?? 0, plan.maxMemoryBytes ?? 0, c.RESPAWN_PLAN_SIZE)
  out.set(blob, headSize + respawnSize)
  return out
}

const NUL = Buffer.alloc(1)

/**
 * Each string as UTF-8 and a NUL; a Buffer goes through byte for byte. When
 * all are strings (a Buffer is only a raw environment value), one join and
 * one encoding: encoding each (~50) on its own costs ~0.35 ms more of a
 * CLI start, cold code in Node's Buffer. (No string holds a NUL: the
 * options checks refuse one.)
 */
function stringBlob(strings: (string | Buffer)[]): Buffer {
  if (strings.length === 0) return Buffer.alloc(0)
  if (strings.every((x) => typeof x === 'string')) return Buffer.from(`${strings.join('\0')}\0`, 'utf8')
  return Buffer.concat(strings.flatMap((x) => [typeof x === 'string' ? Buffer.from(x, 'utf8') : x, NUL]))
}

/** struct nd_respawn_plan (native/protocol.h), at f (zeroed). */
function encodeRespawn(f: LeWriter, r: RespawnPolicy, instances: number, maxMemoryBytes: number, size: number): void {
  const start = f.at
  f.u32(r.mode === 'always' ? 2 : 1)
  f.u32(r.delayMs)
  f.u32(r.maxDelayMs)
  f.u32(r.limit)
  f.u32(r.windowMs)
  f.u32(r.minUptimeMs)
  f.u32(r.stopTimeoutMs)
  f.u32(instances)
  // The exit codes not to respawn on: a 256-bit set, byte by byte.
  const bits = new Uint8Array(32)
  for (const code of r.noRespawnExit) bits[code >> 3] |= 1 << (code & 7)
  for (const byte of bits) f.u8(byte)
  f.u64(maxMemoryBytes)
  if (f.at - start !== size) throw new Error(`respawn plan is ${f.at - start} bytes, the helper expects ${size}`)
}
