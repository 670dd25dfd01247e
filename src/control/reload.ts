// reload: SIGHUP to the daemon a pid file names, only when it catches
// SIGHUP (whose default action would kill it). The signal goes through a
// pidfd opened after checking that the pid holds the locked lock file
// (daemon-pidfd.ts); under a supervisor, to the supervisor, which reopens
// its own log and forwards SIGHUP to the current daemon.
import { closeSync, readFileSync } from 'node:fs'
import { constants as osc } from 'node:os'
import { DaemonizeError, stageError, type Stage } from '../errors.js'
import { supervisorRecord } from '../files/launch-record.js'
import { inspectPidFile } from '../files/pidfile-inspect.js'
import type { SupervisorState } from '../files/state-file.js'
import { sendSignal } from '../proc/pidfd.js'
import { openDaemon } from './daemon-pidfd.js'

export interface ReloadResult {
  /** The pid signalled: with respawn, the supervisor's. */
  pid: number
  /** With respawn: the daemon the supervisor forwards SIGHUP to. */
  daemonPid?: number
  message: string
}

const SIGHUP = osc.signals.SIGHUP

/** The signal masks of /proc/<pid>/status (SigCgt, SigIgn) as bigints. */
function signalMasks(pid: number): { caught: bigint; ignored: bigint } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (key: string) => {
    const m = new RegExp(`^${key}:\\s*([0-9a-fA-F]+)$`, 'm').exec(text)
    if (!m) throw new Error(`no ${key} in /proc/${pid}/status`)
    return BigInt(`0x${m[1]}`)
  }
  return { caught: field('SigCgt'), ignored: field('SigIgn') }
}

/**
 * Send SIGHUP to the daemon named by a pid file, only if it catches SIGHUP
 * (SigCgt in /proc/<pid>/status): HUP's default action would kill it.
 * Throws a DaemonizeError (stage 'reload') when it refuses.
 */
export function reload(pidFile: string): ReloadResult {
  const stage: Stage = 'reload'
  const s = inspectPidFile(pidFile, stage)
  if (s.kind === 'absent') {
    throw new DaemonizeError(`not running (no pid file ${pidFile}); nothing to reload`, { stage, code: 'ESRCH', path: pidFile })
  }
  if (s.kind === 'free') {
    throw new DaemonizeError(`not running (pid file ${pidFile} is stale: its lock is free); nothing was signalled`, {
      stage,
      code: 'ESRCH',
      path: pidFile,
      pid: s.pid ?? undefined,
    })
  }
  if (s.pid === null) {
    throw new DaemonizeError(`still starting (pid file ${pidFile} holds no pid yet); try again`, { stage, code: 'EAGAIN', path: pidFile })
  }
  const pid = s.pid
  const pidfd = openDaemon({ path: s.path, pid, lock: s.lock }, stage)
  // Under a supervisor, HUP goes to it: it reopens its own log and forwards
  // HUP to the current daemon, which is the one that must catch it.
  let supervised: SupervisorState | undefined
  try {
    supervised = supervisorRecord(s.path, pid)
  } catch (err) {
    closeSync(pidfd)
    throw stageError(stage, 'cannot read the supervisor state', err, pidFile)
  }
  const target = supervised?.daemonPid ?? pid
  if (supervised !== undefined && supervised.daemonPid === undefined) {
    closeSync(pidfd)
    throw new DaemonizeError(`the supervisor (pid ${pid}) runs no daemon right now (${supervised.state}); try again`, {
      stage,
      code: 'EAGAIN',
      path: pidFile,
      pid,
    })
  }
  try {
    let masks: { caught: bigint; ignored: bigint }
    try {
      masks = signalMasks(target)
    } catch (err) {
      throw stageError(stage, `cannot read the signal dispositions of pid ${target}`, err, pidFile)
    }
    const bit = 1n << BigInt(SIGHUP - 1)
    if ((masks.ignored & bit) !== 0n) {
      throw new DaemonizeError(`pid ${target} ignores SIGHUP, so it cannot reload on it; nothing was sent`, {
        stage,
        code: 'ERR_DAEMON_NO_HUP_HANDLER',
        path: pidFile,
        pid,
      })
    }
    if ((masks.caught & bit) === 0n) {
      throw new DaemonizeError(
        `pid ${target} does not catch SIGHUP: its default action would kill the daemon, so reload refuses to send it`,
        { stage, code: 'ERR_DAEMON_NO_HUP_HANDLER', path: pidFile, pid: target },
      )
    }
    if (!sendSignal(pidfd, SIGHUP, pid, stage)) {
      throw new DaemonizeError(`pid ${pid} exited before SIGHUP could be sent`, { stage, code: 'ESRCH', path: pidFile, pid })
    }
  } finally {
    closeSync(pidfd)
  }
  if (supervised !== undefined) {
    return {
      pid,
      daemonPid: target,
      message: `sent SIGHUP to the supervisor (pid ${pid}): it reopens its log and forwards SIGHUP to the daemon (pid ${target})`,
    }
  }
  return { pid, message: `sent SIGHUP to pid ${pid}` }
}
