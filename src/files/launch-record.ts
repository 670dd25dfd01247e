// What a launch recorded about its service, in `<pidFile>.state`: who it
// runs as (its uid), which process it is (pid and start time), and, under a
// supervisor, which process the supervisor is. Under --respawn the
// supervisor writes that record (state-file.ts); without, the launcher
// writes it once, in the same layout, flagged one-shot.
//
// Why this record is the one to trust: the file is created by the caller
// (root) while holding the pid file's lock, 0644, a regular file with one
// link, and no process of the service ever has a descriptor of it (the
// supervisor closes its copy in every generation; a one-shot daemon never
// gets one). The pid file says only a pid, the lock file is writable
// through the daemon's own lock fd, and a spec exists only for a named
// daemon and names a user, not a uid: neither can say whose a process is.
import { closeSync, lstatSync, writeSync } from 'node:fs'
import type { LockRef } from './pidfile-inspect.js'
import { processHoldsFile } from '../proc/lock-holders.js'
import { openIfStill } from '../proc/pidfd.js'
import { LeWriter } from './le-fields.js'
import { readSupervisorState, STATE_F_ONE_SHOT, STATE_MAGIC, STATE_SIZE, STATE_VERSION, statePathOf, type SupervisorState } from './state-file.js'

const STATE_RUNNING = 2

/**
 * The record of the launch that the pid file's `pid` belongs to: the
 * supervisor's (its supervisorPid is pid) or a one-shot daemon's (its
 * daemonPid is pid); undefined when there is none (a daemon started by an
 * earlier version, or a record left by another launch). Throws
 * (DaemonizeError) for a state file that is not ours.
 */
export function launchRecord(pidFile: string, pid: number | null, how: { supervisedOnly?: boolean } = {}): SupervisorState | undefined {
  if (pid === null) return undefined
  let owner: number
  try {
    owner = lstatSync(pidFile).uid
  } catch {
    return undefined
  }
  const s = readSupervisorState(statePathOf(pidFile), owner, how)
  if (s === undefined) return undefined
  if (s.oneShot) return s.supervisorPid === 0 && s.daemonPid === pid ? s : undefined
  return s.supervisorPid === pid ? s : undefined
}

/**
 * The record of the supervisor the pid file's `pid` names (a service started
 * with respawn); undefined for a one-shot daemon, or when there is none.
 * Throws (DaemonizeError) for a state file that is not ours.
 */
export function supervisorRecord(pidFile: string, pid: number | null): SupervisorState | undefined {
  const s = launchRecord(pidFile, pid, { supervisedOnly: true })
  return s?.oneShot ? undefined : s
}

/**
 * The start time of a daemon just launched, read only while pid is still in
 * the launch's session or holds its lock file (then it is that daemon, not a
 * successor: a session id is not reused while any process is in it), through
 * a pidfd that is still alive after the read. undefined when it cannot be
 * told (it exited, or left both already).
 */
function launchedStartTicks(pid: number, sid: number, lock: LockRef): number | undefined {
  try {
    const opened = openIfStill(pid, (id) => id.session === sid || processHoldsFile(pid, lock), 'pidfile')
    if (opened === undefined) return undefined
    closeSync(opened.pidfd)
    return opened.id.startTicks
  } catch {
    return undefined
  }
}

/**
 * Write the one-shot record of a daemon launched without a supervisor into
 * the state file the launch emptied (fd): its pid, its start time (0 when
 * unknown), the uid it runs as, its session. One write of a whole record.
 */
export function writeOneShotRecord(fd: number, d: { pid: number; uid: number; sid: number; lock: LockRef }): void {
  const buf = Buffer.alloc(STATE_SIZE)
  const now = Date.now()
  const w = new LeWriter(buf)
  w.u32(STATE_MAGIC)
  w.u32(STATE_VERSION)
  w.u64(1) // seq
  w.i32(0) // no supervisor
  w.i32(d.pid)
  w.u32(STATE_RUNNING)
  w.u32(STATE_F_ONE_SHOT)
  w.u32(1) // generation
  w.seek(56).i64(now) // daemon_started_ms
  w.seek(96).i64(now) // updated_ms
  w.seek(112).i32(d.sid)
  w.u32(d.uid)
  w.seek(184).u64(launchedStartTicks(d.pid, d.sid, d.lock) ?? 0)
  w.seek(STATE_SIZE - 8).u64(1) // seq again: the record is whole
  writeSync(fd, buf, 0, buf.length, 0)
}
