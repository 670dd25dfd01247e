// stop (and restart) of a daemon whose lock outlived the pid its pid file
// names: it handed its lock fd on (to a detached child, or with SCM_RIGHTS)
// and exited or closed it, so `start` says "already running" and the pid
// names nothing to signal. The processes that hold the lock are found in
// /proc (proc/lock-holders.ts) and stopped with stop's protocol, then the files
// are reclaimed, but only holders that can be the service's own:
//
//  - of the service's uid as the launch recorded it (files/launch-record.ts: written
//    by the caller's side, which the service user never can write), every one
//    of their uids; a holder of any other uid (root, another user: the lock
//    fd can be passed to anyone with SCM_RIGHTS) makes stop refuse, naming
//    it, before anything is signalled;
//  - never this process, never the recorded supervisor (pid and start time),
//    never a launch in progress: a holder that also has the pid file open for
//    writing is a start of ours between its lock and its pid (the service
//    user cannot open root's 0644 pid file for writing, and the daemon
//    closes the copy it inherits before anything of its own runs);
//  - seen holding the lock in two looks 50 ms apart, with the pid file still
//    naming the same pid under the same lock file: a stop of ours holds the
//    lock only between its two unlinks;
//  - checked again through its pidfd (start time, uid, still holding the
//    lock) right before each signal. A process that does not hold the lock
//    is never signalled, whatever its uid.
import { lstatSync } from 'node:fs'
import { delay } from '../delay.js'
import { DaemonizeError, stageError, type Stage } from '../errors.js'
import { describeUser } from '../files/checks.js'
import { launchRecord } from '../files/launch-record.js'
import { holdsWriteLock, lockHolders, type LockHolder } from '../proc/lock-holders.js'
import { inspectPidFile, type LockRef } from '../files/pidfile-inspect.js'
import { isLiveOf, isRecordedProcess, procIdentity, type ProcIdentity } from '../proc/identity.js'
import type { SupervisorState } from '../files/state-file.js'
import { osSignals, signalName } from '../signals.js'
import { pidList, terminate, type Victim } from './terminate.js'

/** Between the two looks at the holders. */
const SETTLE_MS = 50
/** How long a launch that holds the lock (it has just started the daemon) is given to finish before stop refuses. */
const LAUNCH_WAIT_MS = 1000
/** Holders that keep appearing (a holder forking new ones) are looked for again at most this often. */
const MAX_ROUNDS = 10

export interface HoldersStopped {
  /** The processes signalled (the lock's holders, and the recorded daemon when it still ran). */
  signalled: number[]
  escalated: boolean
  message: string
}

interface Held {
  path: string
  pid: number
  lock: LockRef
}

function signalLabel(sig: number): string {
  return signalName(sig) ?? `signal ${sig}`
}

function who(h: ProcIdentity): string {
  const uid = h.uids[1]
  const odd = h.uids.some((u) => u !== uid) ? ` (uids ${h.uids.join('/')})` : ''
  return `pid ${h.pid} (${h.comm}, ${describeUser(uid)}${odd})`
}

function refuse(s: Held, why: string, code: string, pid: number, stage: Stage, tail = 'nothing was signalled'): DaemonizeError {
  return new DaemonizeError(`pid file ${s.path} names pid ${s.pid}, which no longer holds ${s.lock.path}; ${why}; ${tail}`, {
    stage,
    code,
    path: s.path,
    pid,
  })
}

/** Why stop refuses to signal these holders, or undefined when they are the service's to stop. */
export interface Refusal {
  why: string
  code: string
  pid: number
}

/** Whether the holders are the service's to stop (the rules above). */
export function judgeHolders(holders: LockHolder[], record: SupervisorState | undefined): Refusal | undefined {
  const launching = holders.find((h) => h.writesPidFile)
  if (launching !== undefined) {
    return { why: `${who(launching)} holds its lock and has the pid file open for writing: a start or stop of it is in progress; try again`, code: 'EBUSY', pid: launching.pid }
  }
  const sup = record !== undefined && !record.oneShot ? holders.find((h) => h.pid === record.supervisorPid && h.startTicks === record.supervisorStartTicks) : undefined
  if (sup !== undefined) return { why: `its lock is held by the service's supervisor, ${who(sup)}`, code: 'EBUSY', pid: sup.pid }
  const uid = record?.serviceUid
  const one = holders.length === 1
  if (uid === undefined) {
    return {
      why: `its lock is held by ${holders.map(who).join(', ')}, and no record of this launch says which uid the service runs as (started by an earlier version?), so stop cannot tell whose ${one ? 'process that is' : 'processes those are'}: end ${one ? 'it' : 'them'} yourself`,
      code: 'EPERM',
      pid: holders[0].pid,
    }
  }
  const foreign = holders.filter((h) => !isLiveOf(h, uid))
  if (foreign.length > 0) {
    return {
      why: `its lock is held by ${foreign.map(who).join(', ')}, not by the service's user ${describeUser(uid)} (a lock fd can be passed to any process): stop refuses to signal ${foreign.length === 1 ? 'it' : 'them'}`,
      code: 'EPERM',
      pid: foreign[0].pid,
    }
  }
  return undefined
}

/** Throws when one of the holders is not the service's to stop. */
function judge(s: Held, holders: LockHolder[], record: SupervisorState | undefined, stage: Stage): void {
  const r = judgeHolders(holders, record)
  if (r !== undefined) throw refuse(s, r.why, r.code, r.pid, stage)
}

/** "pid 12 (sleep, nobody (uid 65534))" for each. */
export function describeHolders(holders: ProcIdentity[]): string {
  return holders.map(who).join(', ')
}

/**
 * The holders now, this process left out. When none is found while the
 * lock is still held (stillHeld), a second look through every thread's fd
 * table (a thread made without CLONE_FILES has its own).
 */
export function findHolders(lock: LockRef, pidFile: { dev: number; ino: number } | undefined, stillHeld: () => boolean): LockHolder[] {
  const mine = (h: LockHolder) => h.pid !== process.pid
  const first = lockHolders(lock, pidFile).filter(mine)
  return first.length > 0 || !stillHeld() ? first : lockHolders(lock, pidFile, true).filter(mine)
}

/** Still the same look at the files: the pid file names pid under the same held lock file. */
function unchanged(s: Held, stage: Stage): boolean {
  const now = inspectPidFile(s.path, stage)
  return now.kind === 'held' && now.pid === s.pid && now.lock.dev === s.lock.dev && now.lock.ino === s.lock.ino
}

/**
 * The holders in two looks SETTLE_MS apart (a stop of ours removing the
 * files holds the lock for a moment only): all of the second look, to be
 * judged, and those in both, to be signalled. undefined when the files
 * changed meanwhile.
 */
async function settledHolders(
  s: Held,
  pidStat: { dev: number; ino: number },
  stage: Stage,
  seen?: LockHolder[],
): Promise<{ all: LockHolder[]; steady: LockHolder[] } | undefined> {
  const held = () => unchanged(s, stage)
  const first = seen ?? findHolders(s.lock, pidStat, held)
  if (first.length === 0) return { all: [], steady: [] }
  await delay(SETTLE_MS)
  const all = findHolders(s.lock, pidStat, held)
  if (!held()) return undefined
  return { all, steady: all.filter((h) => first.some((f) => f.pid === h.pid && f.startTicks === h.startTicks)) }
}

function asVictim(h: ProcIdentity, lock: LockRef, uid: number): Victim {
  return { pid: h.pid, isStill: (id) => id.startTicks === h.startTicks && isLiveOf(id, uid) && holdsWriteLock(h.pid, lock) }
}

/**
 * Stop the processes that hold the lock of the pid file whose pid does not
 * (s: a held state whose pid failed the holder check). undefined when no
 * holder can be found, or the files changed meanwhile (the caller then
 * looks at them again). Throws a DaemonizeError (stage) when it refuses.
 */
export async function stopLockHolders(s: Held, sig: number, timeoutMs: number, stage: Stage): Promise<HoldersStopped | undefined> {
  // A daemon of an earlier version locks its pid file itself: no launch record, nothing to go on.
  if (s.lock.path === s.path) return undefined
  let pidStat: { dev: number; ino: number } | undefined
  try {
    pidStat = lstatSync(s.path)
  } catch {
    return undefined
  }
  let record: SupervisorState | undefined
  try {
    record = launchRecord(s.path, s.pid)
  } catch (err) {
    throw stageError(stage, 'cannot read the launch record', err, s.path)
  }
  // A launch that has just started the daemon still holds the lock (and the
  // pid file) for a moment: let it finish, then look again.
  const held = () => unchanged(s, stage)
  let first = findHolders(s.lock, pidStat, held)
  for (const end = Date.now() + LAUNCH_WAIT_MS; first.some((h) => h.writesPidFile) && Date.now() < end; ) {
    await delay(20)
    if (!held()) return undefined
    first = findHolders(s.lock, pidStat, held)
  }
  const uid = record?.serviceUid
  const signalled: number[] = []
  let escalated = false
  for (let round = 0; ; round++) {
    // The first look of round 0 is the one above; each later round looks afresh.
    const seen = await settledHolders(s, pidStat, stage, round === 0 ? first : undefined)
    if (seen === undefined || seen.all.length === 0) {
      if (round === 0) return undefined
      break // the lock is free (or the files were taken over meanwhile: the removal says so)
    }
    judge(s, seen.all, record, stage)
    if (round >= MAX_ROUNDS) {
      const tail = signalled.length > 0 ? `${pidList(signalled)} were stopped` : 'nothing was signalled'
      throw refuse(s, `its lock is still held after ${MAX_ROUNDS} rounds (new holders keep appearing: ${pidList(seen.all.map((h) => h.pid))})`, 'EBUSY', seen.all[0].pid, stage, tail)
    }
    const victims = seen.steady.map((h) => asVictim(h, s.lock, uid as number))
    // The daemon the pid file names, when it still runs (it closed its lock fd) and is the recorded one.
    const startTicks = record?.daemonStartTicks
    if (round === 0 && record?.oneShot && isRecordedProcess(procIdentity(s.pid), { startTicks, uid }) && !victims.some((v) => v.pid === s.pid)) {
      victims.push({ pid: s.pid, isStill: (id) => isRecordedProcess(id, { startTicks, uid }) })
    }
    if (victims.length === 0) continue
    // Later rounds: processes that appeared while the first ones were stopped (their children).
    const r = await terminate(victims, round === 0 ? sig : osSignals().SIGKILL, timeoutMs, stage)
    signalled.push(...r.signalled)
    escalated ||= r.escalated.length > 0
  }
  const holders = signalled.filter((p) => p !== s.pid)
  const parts = holders.length > 0 ? [`${pidList(holders)}, which held it`] : []
  if (signalled.includes(s.pid)) parts.push(`the daemon itself (pid ${s.pid}), which still ran without it`)
  const how = `${signalLabel(sig)}${escalated ? ', then SIGKILL after the timeout' : ''}`
  const head = `pid ${s.pid} named in ${s.path} no longer held its lock`
  return {
    signalled,
    escalated,
    message: parts.length > 0 ? `${head}: stopped ${parts.join(' and ')} (${how})` : `${head}; its holders exited meanwhile and nothing was signalled`,
  }
}
