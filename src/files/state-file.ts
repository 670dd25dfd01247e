// The service's state file, `<pidFile>.state` (layout:
// native/supervise_state.h): under --respawn, one 4088-byte record the
// supervisor rewrites in place with one pwrite; without, one record of the
// same layout the launcher writes once (flag one-shot: the daemon's pid,
// start time and uid). Read bounded (exactly one record, never more), from
// a file that must look like the caller's own: a regular file with one link,
// not a symlink, owned by the pid file's owner, writable by nobody else.
import { closeSync, constants as fsc, fchmodSync, fstatSync, ftruncateSync, openSync, readSync, unlinkSync } from 'node:fs'
import { DaemonizeError, stageError } from '../errors.js'
import { checkFileShape, checkOwner, euid, openUntrusted, readUntrusted } from './checks.js'
import { LeReader } from './le-fields.js'
import { decodeInstances, decodeInstancesSummary, type InstanceState, type InstancesSummary } from './state-instances.js'

export { STATE_INSTANCES_MAX, type InstancePhase, type InstanceState, type InstancesSummary } from './state-instances.js'

export const STATE_SIZE = 4088
/** Earlier versions' records, as a supervisor started by an earlier release writes them: version 2 names no uid and no start times, version 3 no cgroup, version 4 no instances, version 5 no instance's own life. */
const SIZES: Record<number, number> = { 2: 192, 3: 208, 4: 728, 5: 1504, 6: STATE_SIZE }
/** The record's magic and version, and the flags read here (native/supervise_state.h ND_STATE_F_*). */
export const STATE_MAGIC = 0x5653444e // "NDSV"
export const STATE_VERSION = 6
/** Version 4: the service cgroup's inode number at 200, its absolute path (NUL-terminated) in the 512 bytes at 208. */
const CGROUP_ID_AT = 200
const CGROUP_DIR_AT = 208
const CGROUP_DIR_MAX = 512
const F_CGROUP = 1 << 4
export const STATE_F_ONE_SHOT = 1 << 5
/** A record read while being rewritten (its two sequence numbers differ) is read again, this many times. */
const TORN_RETRIES = 5

export type SupervisorStateName = 'starting' | 'running' | 'restarting' | 'stopping' | 'failed' | 'stopped' | 'exited'
export type SupervisorReason = 'crash-loop' | 'no-respawn-exit' | 'clean-exit' | 'signal' | 'start-failed' | 'launch-failed'
/** How a graceful restart ended (native/supervise_state.h ND_GRACEFUL_*). */
export type GracefulOutcome = 'ready' | 'exited' | 'not-ready' | 'start-failed' | 'stopped' | 'ended'
/** Why the supervisor refused a graceful restart (ND_REFUSED_*). */
export type GracefulRefusal = 'in-progress' | 'draining' | 'not-ready' | 'stopping' | 'no-wait-ready' | 'instances'

const STATES: Record<number, SupervisorStateName> = {
  1: 'starting',
  2: 'running',
  3: 'restarting',
  4: 'stopping',
  5: 'failed',
  6: 'stopped',
  7: 'exited',
}
const OUTCOMES: Record<number, GracefulOutcome> = {
  1: 'ready',
  2: 'exited',
  3: 'not-ready',
  4: 'start-failed',
  5: 'stopped',
  6: 'ended',
}
const REFUSALS: Record<number, GracefulRefusal> = {
  1: 'in-progress',
  2: 'draining',
  3: 'not-ready',
  4: 'stopping',
  5: 'no-wait-ready',
  6: 'instances',
}
const REASONS: Record<number, SupervisorReason> = {
  1: 'crash-loop',
  2: 'no-respawn-exit',
  3: 'clean-exit',
  4: 'signal',
  5: 'start-failed',
  6: 'launch-failed',
}

export interface SupervisorState {
  state: SupervisorStateName
  supervisorPid: number
  /** The current generation's pid; undefined between generations and after the end. */
  daemonPid?: number
  /** 1 for the first generation. */
  generation: number
  /** Generations started after the first. */
  restarts: number
  /** How the last generation ended. */
  lastExit?: { code: number; signal?: undefined } | { code?: undefined; signal: number }
  /** The current generation called ready(). */
  ready: boolean
  /** The current generation counts as a good start (the backoff was reset). */
  goodStart: boolean
  /** PR_SET_CHILD_SUBREAPER was refused (qemu-user): a generation's orphans go to init, not to the supervisor. */
  subreaper: boolean
  /** Each generation runs in a cgroup of its own (else leftovers are found through /proc). */
  cgroups: boolean
  /** The service's cgroup (cgroups; version 4): its absolute path and inode number, as the supervisor made it. */
  cgroup?: { dir: string; id: bigint }
  supervisorStartedAt: number
  /** When the current generation was forked (ms since the epoch). */
  daemonStartedAt?: number
  /** restarting: when the next generation starts, and the delay chosen. */
  restartAt?: number
  restartDelayMs?: number
  reason?: SupervisorReason
  /** The crash-loop policy, and the deaths inside its window at the last death. */
  limit: number
  windowMs: number
  deathsInWindow: number
  deaths: number
  stopTimeoutMs: number
  /** The signal that stopped the supervisor (state stopped). */
  stopSignal?: number
  /** The service's session (the helper's pid). */
  sid: number
  /** The uid the daemon (every generation) runs as; undefined in a version 2 record. */
  serviceUid?: number
  /** daemonPid's start time, in clock ticks after boot (/proc/<pid>/stat); undefined when unknown. */
  daemonStartTicks?: number
  /** The supervisor's start time, in clock ticks after boot; undefined when unknown. */
  supervisorStartTicks?: number
  /** Written by the launcher for a daemon without a supervisor (supervisorPid 0). */
  oneShot: boolean
  updatedAt: number
  /** Started with --wait-ready: a graceful restart is possible. */
  waitReady: boolean
  graceful: GracefulState
  /** Version 5, with --instances: every instance and its current generation (0..N-1). */
  instances?: InstanceState[]
  /** Version 6, with --instances: how many are up and ready, --max-memory, a rolling restart's marks. */
  instancesSummary?: InstancesSummary
}

/** Graceful restarts, as the supervisor records them (SIGUSR2 requests). */
export interface GracefulState {
  /** Attempts begun, and decided (equal: none in progress). */
  seq: number
  done: number
  /** The pid that sent the request that began attempt `seq`. */
  requester: number
  /** How attempt `done` ended. */
  outcome?: GracefulOutcome
  /** The new generation while it starts, and the replaced one while it drains. */
  nextPid?: number
  drainingPid?: number
  /** The last attempt's new generation, and the one it was to replace. */
  newPid?: number
  oldPid?: number
  /** exited: its wait status; not-ready: the timeout (ms); start-failed: the errno. */
  value: number
  /** start-failed: the checklist's stage id (protocol.h). */
  stage: number
  /** Requests refused so far; the last one's sender and reason. */
  refusals: number
  refusedPid?: number
  refusedWhy?: GracefulRefusal
  /** The last attempt: its new generation's fork to ready(), and request to decision, in ms. */
  readyMs: number
  tookMs: number
  /** The readiness timeout a new generation gets (0: none). */
  waitReadyMs: number
}

export function statePathOf(pidFile: string): string {
  return `${pidFile}.state`
}

/** A whole, consistent record's version (its magic, size and both sequence numbers checked); undefined when it is not one. */
function wholeRecord(r: LeReader): number | undefined {
  if (r.buf.length < 8 || r.u32(0) !== STATE_MAGIC) return undefined
  const version = r.u32(4)
  const size = SIZES[version] ?? 0
  if (size === 0 || r.buf.length !== size) return undefined
  if (r.u64(8) !== r.u64(size - 8)) return undefined
  return version
}

/** Decode one record (version 6 back to 2); undefined when it is not a whole, consistent one. */
export function decodeState(buf: Buffer): SupervisorState | undefined {
  const r = new LeReader(buf)
  const version = wholeRecord(r)
  if (version === undefined) return undefined
  const state = STATES[r.u32(24)]
  if (state === undefined) return undefined
  const flags = r.u32(28)
  const daemonPid = r.i32(20)
  const exitKind = r.u32(40)
  const exitValue = r.i32(44)
  const time = (o: number) => Number(r.i64(o))
  const daemonStartedAt = time(56)
  const restartAt = time(64)
  const stopSignal = r.u32(104)
  const v3 = version >= 3
  const ticks = (o: number) => {
    const t = v3 ? r.u64(o) : 0n
    return t > 0n && t <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(t) : undefined
  }
  return {
    state,
    supervisorPid: r.i32(16),
    daemonPid: daemonPid > 0 ? daemonPid : undefined,
    generation: r.u32(32),
    restarts: r.u32(36),
    lastExit: exitKind === 1 ? { code: exitValue } : exitKind === 2 ? { signal: exitValue } : undefined,
    ready: (flags & 2) !== 0,
    goodStart: (flags & 4) !== 0,
    subreaper: (flags & 1) === 0,
    cgroups: (flags & F_CGROUP) !== 0,
    cgroup: version >= 4 && (flags & F_CGROUP) !== 0 ? decodeCgroup(r) : undefined,
    supervisorStartedAt: time(48),
    daemonStartedAt: daemonPid > 0 && daemonStartedAt > 0 ? daemonStartedAt : undefined,
    restartAt: state === 'restarting' ? restartAt : undefined,
    restartDelayMs: state === 'restarting' ? r.u32(72) : undefined,
    reason: REASONS[r.u32(76)],
    limit: r.u32(80),
    windowMs: r.u32(84),
    deathsInWindow: r.u32(88),
    stopTimeoutMs: r.u32(92),
    updatedAt: time(96),
    stopSignal: stopSignal > 0 ? stopSignal : undefined,
    deaths: r.u32(108),
    sid: r.i32(112),
    serviceUid: v3 ? r.u32(116) : undefined,
    daemonStartTicks: daemonPid > 0 ? ticks(184) : undefined,
    supervisorStartTicks: ticks(192),
    oneShot: (flags & STATE_F_ONE_SHOT) !== 0,
    waitReady: (flags & 8) !== 0,
    graceful: decodeGraceful(r),
    instances: decodeInstances(r, version, ticks),
    instancesSummary: decodeInstancesSummary(r, version),
  }
}

/** The service's cgroup in a version 4 record: undefined when its path is empty, not absolute or not UTF-8 (it could not be given back to the kernel as it is). */
function decodeCgroup(r: LeReader): { dir: string; id: bigint } | undefined {
  const raw = r.buf.subarray(CGROUP_DIR_AT, CGROUP_DIR_AT + CGROUP_DIR_MAX)
  const end = raw.indexOf(0)
  if (end <= 0) return undefined
  const bytes = raw.subarray(0, end)
  const dir = bytes.toString('utf8')
  const id = r.u64(CGROUP_ID_AT)
  if (!dir.startsWith('/') || !Buffer.from(dir, 'utf8').equals(bytes) || id === 0n) return undefined
  return { dir, id }
}

function decodeGraceful(r: LeReader): GracefulState {
  const pid = (o: number) => {
    const p = r.i32(o)
    return p > 0 ? p : undefined
  }
  return {
    seq: r.u32(120),
    done: r.u32(124),
    requester: r.i32(128),
    outcome: OUTCOMES[r.u32(132)],
    nextPid: pid(136),
    drainingPid: pid(140),
    newPid: pid(144),
    oldPid: pid(148),
    value: r.i32(152),
    stage: r.u32(156),
    refusals: r.u32(160),
    refusedPid: pid(164),
    refusedWhy: REFUSALS[r.u32(168)],
    readyMs: r.u32(172),
    tookMs: r.u32(176),
    waitReadyMs: r.u32(180),
  }
}

const WHAT = 'supervisor state file'

function unusable(path: string, why: string, code = 'EINVAL'): DaemonizeError {
  return new DaemonizeError(`${WHAT} ${path} ${why}`, { stage: 'pidfile', code, path })
}

/**
 * The supervisor's state, or undefined when the file does not exist (a
 * daemon started without --respawn). `ownerUid`: the pid file's owner,
 * whom the state file must belong to. Throws a DaemonizeError (stage
 * 'pidfile') for a file that is not a supervisor's.
 */
export function readSupervisorState(path: string, ownerUid: number, { supervisedOnly = false } = {}): SupervisorState | undefined {
  // Opened, checked and read in one addon call (files/checks.ts readUntrusted);
  // a record torn by a write in progress is read again through an fd.
  const file = readUntrusted(path, 'pidfile', WHAT, STATE_SIZE)
  if (file === undefined) return undefined
  checkStateFile(file.st, path, ownerUid)
  // A caller that wants a supervisor's record only (status, stop) is told
  // "none" for a whole one-shot record without decoding all of it: most of
  // a status of a one-shot daemon was that decode, cold.
  if (supervisedOnly && file.data !== undefined && oneShotRecord(file.data)) return undefined
  const once = decodeRead(file.data ?? Buffer.alloc(0))
  if (once !== TORN) return once
  const fd = openSupervisorState(path, ownerUid)
  if (fd === undefined) return undefined
  try {
    return readStateFd(fd, path)
  } finally {
    closeSync(fd)
  }
}

/** The state file's shape and owner: a regular file with one link, the pid file's owner's, writable by nobody else. */
function checkStateFile(st: { isFile(): boolean; isDirectory?(): boolean; nlink: number; uid: number; mode: number }, path: string, ownerUid: number): void {
  checkFileShape(st, path, 'pidfile', WHAT)
  // The pid file's owner: whoever else could write it could tell status anything.
  checkOwner(st, path, 'pidfile', WHAT, [ownerUid])
  if ((st.mode & 0o022) !== 0) throw unusable(path, 'is writable by group or others; refusing it', 'EPERM')
}

const TORN = Symbol('torn')

/** Is this read (from offset 0) a whole one-shot record, valid as decodeState() would take it (its state one of ours)? */
function oneShotRecord(buf: Buffer): boolean {
  const size = buf.length >= 8 ? SIZES[new LeReader(buf).u32(4)] : undefined
  if (size === undefined || buf.length < size) return false
  const r = new LeReader(buf.subarray(0, size))
  return wholeRecord(r) !== undefined && STATES[r.u32(24)] !== undefined && (r.u32(28) & STATE_F_ONE_SHOT) !== 0
}

/** One read of a state file (got bytes from offset 0): its record, undefined when empty, TORN when it must be read again. */
function decodeRead(buf: Buffer): SupervisorState | undefined | typeof TORN {
  const got = buf.length
  // Empty: the launcher created it and the supervisor has not written yet.
  if (got === 0) return undefined
  // An earlier version's record is shorter: what follows it is not read as part of it.
  const size = (got >= 8 ? SIZES[new LeReader(buf).u32(4)] : undefined) ?? STATE_SIZE
  const s = got >= size ? decodeState(buf.subarray(0, size)) : undefined
  return s ?? TORN
}

/**
 * The state file opened read-only after the same checks as
 * readSupervisorState (undefined: it does not exist). A reader that must
 * follow the supervisor to its end keeps this fd: the record stays readable
 * through it after a stop has removed the file. The caller closes it.
 */
export function openSupervisorState(path: string, ownerUid: number): number | undefined {
  const fd = openUntrusted(path, 'pidfile', WHAT)
  if (fd === undefined) return undefined
  try {
    checkStateFile(fstatSync(fd), path, ownerUid)
    return fd
  } catch (err) {
    closeSync(fd)
    throw err
  }
}

/**
 * One record through an fd from openSupervisorState: at most STATE_SIZE
 * bytes at offset 0 (an earlier version's record is shorter), a torn one
 * read again.
 */
export function readStateFd(fd: number, path: string): SupervisorState | undefined {
  const buf = Buffer.alloc(STATE_SIZE)
  for (let attempt = 0; ; attempt++) {
    let got = 0
    while (got < STATE_SIZE) {
      const n = readSync(fd, buf, got, STATE_SIZE - got, got)
      if (n === 0) break
      got += n
    }
    const s = decodeRead(buf.subarray(0, got))
    if (s !== TORN) return s
    if (attempt >= TORN_RETRIES) throw unusable(path, 'does not hold a supervisor state record')
  }
}

/**
 * Open (creating it 0644) and empty the state file of a start that holds the
 * pid file's lock: the supervisor gets this fd and keeps it. The same rules
 * as the pid file: a regular file with one link, not a symlink, ours,
 * writable by nobody else.
 */
export function openStateFile(path: string): number {
  let fd: number
  try {
    fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY, 0o644)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw stageError('pidfile', code === 'ELOOP' ? 'supervisor state file is a symbolic link' : 'cannot open supervisor state file', err, path)
  }
  try {
    const st = fstatSync(fd)
    checkFileShape(st, path, 'pidfile', WHAT)
    checkOwner(st, path, 'pidfile', WHAT, [euid()])
    if ((st.mode & 0o022) !== 0) fchmodSync(fd, st.mode & 0o7755)
    ftruncateSync(fd, 0)
    return fd
  } catch (err) {
    closeSync(fd)
    if (err instanceof DaemonizeError) throw err
    throw stageError('pidfile', 'cannot prepare supervisor state file', err, path)
  }
}

/** Remove a state file (a failed start's, or a stopped service's); a missing one is fine. */
export function removeStateFile(path: string): void {
  try {
    unlinkSync(path)
  } catch {
    // gone already, or not ours to remove: status ignores a state file without a held lock's pid file
  }
}
