// What still runs of a service whose lock is free: the supervisor was
// killed (SIGKILL) without writing its end, or a one-shot daemon let go of
// its lock. Only what the launch record (files/launch-record.ts) identifies is
// named or signalled: the daemon (the current generation) while its pid
// still has the recorded start time and uid, and, under a supervisor, the
// processes left in the service's session that run as the service's uid and
// started after the supervisor, and what runs in the service's cgroup where
// the supervisor made one (cgroup-survivors.ts: found there even when it
// left the session). Pids and session ids are reused: nothing is judged by
// its pid alone.
import { osSignals } from '../signals.js'
import { cgroupMembers, endServiceCgroup, type CgroupEnd } from './cgroup-survivors.js'
import { DaemonizeError, type Stage } from '../errors.js'
import { launchRecord } from '../files/launch-record.js'
import { allPids, isLiveOf, isRecordedProcess, procIdentity, type ProcIdentity } from '../proc/identity.js'
import type { SupervisorState } from '../files/state-file.js'
import { KILL_WAIT_MS, pidList, terminate } from './terminate.js'

export interface Survivors {
  record: SupervisorState
  /** The supervisor's pid (0: a one-shot daemon). */
  supervisorPid: number
  /** The daemon (the current generation; with --instances the lowest instance's that ran), still the recorded process. */
  daemon?: ProcIdentity
  /** With --instances: every instance's generation still the recorded process (the daemon's among them), by index. */
  instances: { index: number; id: ProcIdentity }[]
  /** Other processes of the service left in its session (a supervised service's only). */
  session: ProcIdentity[]
  /** The rest of what runs in the service's recorded cgroup (cgroup mode only): what left the session. */
  cgroup: number[]
  /** The record does not say who the service's processes are (written by an earlier version): nothing is named. */
  unidentified: boolean
  /** The recorded daemon's pid is another process now (start time or uid differ): left alone. */
  pidReused: boolean
}

const ENDED = new Set(['failed', 'stopped', 'exited'])

/**
 * The survivors of the launch the pid file's `pid` belongs to, when its lock
 * is free: undefined when there is no such record, or the supervisor wrote
 * its end (then it killed and reaped everything itself). Throws
 * (DaemonizeError) for a state file that is not ours.
 */
export function findSurvivors(pidFile: string, pid: number | null): Survivors | undefined {
  const record = launchRecord(pidFile, pid)
  if (record === undefined || ENDED.has(record.state)) return undefined
  const out: Survivors = { record, supervisorPid: record.supervisorPid, instances: [], session: [], cgroup: [], unidentified: false, pidReused: false }
  const uid = record.serviceUid
  out.unidentified = uid === undefined
  if (record.daemonPid !== undefined) {
    const id = procIdentity(record.daemonPid)
    if (isRecordedProcess(id, { startTicks: record.daemonStartTicks, uid })) out.daemon = id
    else out.pidReused = id !== undefined && id.state !== 'Z' && id.state !== 'X'
  }
  out.instances = recordedInstances(record, out.daemon)
  if (!record.oneShot) {
    const generations = new Set([out.daemon?.pid, ...out.instances.map((i) => i.id.pid)])
    out.session = sessionLeftovers(record, generations)
    const named = new Set([...generations, ...out.session.map((p) => p.pid), process.pid])
    out.cgroup = (cgroupMembers(pidFile, record, 'pidfile')?.pids ?? []).filter((p) => !named.has(p))
  }
  return out
}

/** With --instances: each instance's generation the record names that is still that process (start time and uid); the daemon's as found. */
function recordedInstances(record: SupervisorState, daemon: ProcIdentity | undefined): { index: number; id: ProcIdentity }[] {
  const out: { index: number; id: ProcIdentity }[] = []
  if (record.instances === undefined || record.instances.length < 2) return out
  for (const i of record.instances) {
    if (i.pid === undefined) continue
    const id = i.pid === daemon?.pid ? daemon : procIdentity(i.pid)
    if (isRecordedProcess(id, { startTicks: i.startTicks, uid: record.serviceUid })) out.push({ index: i.index, id: id as ProcIdentity })
  }
  return out
}

/**
 * The processes of the service's session that can only be the service's:
 * of its uid, started no earlier than the supervisor (every process of the
 * session but the helper, which has exited, descends from it). None while a
 * live process has the session's id as its pid: then that id was given to
 * a new session, which is not ours (an id is not reused while any process
 * is still in its session).
 */
function sessionLeftovers(record: SupervisorState, generations: Set<number | undefined>): ProcIdentity[] {
  const { sid, serviceUid: uid, supervisorStartTicks: since } = record
  if (sid <= 1 || uid === undefined || since === undefined) return []
  const leader = procIdentity(sid)
  if (leader !== undefined && leader.state !== 'Z' && leader.state !== 'X') return []
  const out: ProcIdentity[] = []
  for (const pid of allPids()) {
    if (generations.has(pid) || pid === record.supervisorPid || pid === process.pid) continue
    const id = procIdentity(pid)
    if (id !== undefined && id.session === sid && id.startTicks >= since && isLiveOf(id, uid)) out.push(id)
  }
  return out
}

/** The generations that survive: every instance's (by index), else the daemon. */
function generationPids(s: Survivors): number[] {
  if (s.instances.length > 0) return s.instances.map((i) => i.id.pid)
  return s.daemon ? [s.daemon.pid] : []
}

/** Every pid of the survivors: the daemon (every instance's generation) first, then its session's, then the rest of its cgroup's. */
export function survivorPids(s: Survivors): number[] {
  return [...generationPids(s), ...s.session.map((p) => p.pid), ...s.cgroup]
}

/** "instances 0, 1 and 2 (pids a, b and c)", "instance 2 (pid c)": every one named. */
export function instancesNamed(list: { index: number; pid: number }[]): string {
  const idx = list.map((i) => String(i.index))
  const words = idx.length === 1 ? `instance ${idx[0]}` : `instances ${idx.slice(0, -1).join(', ')} and ${idx.at(-1)}`
  return `${words} (${pidList(list.map((i) => i.pid), list.length)})`
}

/** "pid 1234 of the service still runs unsupervised" (in its session, its cgroup: where it was found, when the daemon is not among them). */
function stillRuns(s: Survivors, pids: number[]): string {
  const runs = pids.length === 1 ? 'runs' : 'run'
  const how = s.supervisorPid > 0 ? 'unsupervised' : 'without holding its lock'
  const where = s.daemon !== undefined ? '' : s.cgroup.length === 0 ? ' in its session' : s.session.length === 0 ? ' in its cgroup' : ' in its session and its cgroup'
  if (s.instances.length > 0) {
    // Every instance named; then what else runs of it.
    const rest = pids.slice(s.instances.length)
    const others = rest.length === 0 ? '' : ` and ${pidList(rest)}`
    return `${instancesNamed(s.instances.map((i) => ({ index: i.index, pid: i.id.pid })))}${others} of the service still run ${how}`
  }
  return `${pidList(pids)} of the service still ${runs} ${how}${where}`
}

/** What still runs, in words: "pid 1234 of the service still runs unsupervised (stop ends it)". */
export function describeSurvivors(s: Survivors): string {
  const pids = survivorPids(s)
  if (pids.length === 0) {
    if (s.unidentified) return 'its state record (written by an earlier version) does not say which processes were its own: none is named'
    const d = s.record.daemonPid
    const gone = d === undefined ? '' : s.pidReused ? `its daemon (pid ${d}) is gone (that pid is another process now, left alone); ` : `its daemon (pid ${d}) died with it; `
    return `${gone}nothing of the service still runs`
  }
  const them = pids.length === 1 ? 'it' : 'them'
  return `${s.daemon === undefined && s.instances.length === 0 ? 'its daemon died with it, but ' : ''}${stillRuns(s, pids)} (stop ends ${them})`
}

/**
 * A start that has taken a free lock whose pid file names `pid`: refused
 * (returned) while the survivors of that launch still run. Starting beside
 * them would overwrite the record that finds them (the state file), and
 * nothing could find them again; stop ends them, restart too.
 */
export function survivorsBlockingStart(pidFile: string, pid: number): DaemonizeError | undefined {
  let found: Survivors | undefined
  try {
    found = findSurvivors(pidFile, pid)
  } catch {
    return undefined // a state file that is not ours names nothing
  }
  const pids = found === undefined ? [] : survivorPids(found)
  if (found === undefined || pids.length === 0) return undefined
  const gone = found.supervisorPid > 0 ? `the supervisor (pid ${found.supervisorPid}) of its previous start is gone (killed?) and ` : ''
  return new DaemonizeError(`not started: ${gone}${stillRuns(found, pids)}; stop ends ${pids.length === 1 ? 'it' : 'them'} (or restart)`, {
    stage: 'pidfile',
    code: 'EBUSY',
    path: pidFile,
    pid: pids[0],
  })
}

/**
 * End the survivors as the supervisor would have: the daemon gets `sig`
 * (SIGKILL after timeoutMs), then what is left in the session (looked for
 * again, with the same checks) gets SIGKILL, then what is left in the
 * service's cgroup (cgroup.kill), whose cgroups are then removed.
 */
export async function endSurvivors(
  pidFile: string,
  pid: number | null,
  s: Survivors,
  sig: number,
  timeoutMs: number,
  stage: Stage,
): Promise<{ daemon?: number; instances: { index: number; pid: number }[]; escalated: boolean; session: number[]; cgroup?: CgroupEnd }> {
  const { record } = s
  const uid = record.serviceUid
  const out: { daemon?: number; instances: { index: number; pid: number }[]; escalated: boolean; session: number[]; cgroup?: CgroupEnd } = {
    instances: [],
    escalated: false,
    session: [],
  }
  // The daemon, or with --instances every instance's generation: the first signal to all at once.
  const generations = s.instances.length > 0 ? s.instances : s.daemon !== undefined ? [{ index: -1, id: s.daemon }] : []
  if (generations.length > 0) {
    const victims = generations.map(({ id: { pid, startTicks } }) => ({ pid, isStill: (id: ProcIdentity) => isRecordedProcess(id, { startTicks, uid }) }))
    const r = await terminate(victims, sig, timeoutMs, stage)
    const signalled = new Set(r.signalled)
    out.daemon = s.daemon !== undefined && signalled.has(s.daemon.pid) ? s.daemon.pid : s.instances.length > 0 ? r.signalled[0] : undefined
    out.instances = s.instances.filter((i) => signalled.has(i.id.pid)).map((i) => ({ index: i.index, pid: i.id.pid }))
    out.escalated = r.escalated.length > 0
  }
  if (!record.oneShot) {
    // Looked for again: the daemon's end may have left more of its own.
    for (let round = 0; round < 10; round++) {
      const left = findSurvivors(pidFile, pid)?.session ?? []
      if (left.length === 0) break
      const r = await terminate(
        left.map((p) => ({ pid: p.pid, isStill: (id: ProcIdentity) => id.session === p.session && id.startTicks === p.startTicks && isLiveOf(id, uid) })),
        osSignals().SIGKILL,
        KILL_WAIT_MS,
        stage,
      )
      if (r.signalled.length === 0) break
      out.session.push(...r.signalled)
    }
    const cg = await endServiceCgroup(pidFile, record, stage)
    if (cg !== undefined) {
      const done = new Set([out.daemon, ...out.instances.map((i) => i.pid), ...out.session])
      out.cgroup = { ...cg, killed: cg.killed.filter((p) => !done.has(p)) }
    }
  }
  return out
}
