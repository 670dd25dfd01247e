// daemonize(): a start resolved once (start.ts), the name taken (named.ts),
// the pid file, log and sockets taken (launch-fds.ts), the plan handed to
// the helper, its records read (records.ts) and judged (verdict.ts): a
// running daemon, or an error and nothing left running.
import { closeSync } from 'node:fs'
import { addon } from '../addon.js'
import { type DaemonizeError, stageError } from '../errors.js'
import { osSignals } from '../signals.js'
import { fdLogger } from '../logger.js'
import { helperPath, native } from '../native.js'
import type { DaemonizeOptions } from '../options/daemonize-options.js'
import type { Launch } from '../options/resolve.js'
import type { RespawnPolicy } from '../options/respawn.js'
import type { AcquiredPidFile } from '../files/pidfile-acquire.js'
import { LaunchFds } from './launch-fds.js'
import { pidfileParts } from './pidfile-parts-part.js'
import type { LogAt } from './log-file.js'
import { encodePlan, launchPlan } from './plan.js'
import { handoffDeadlineMs, readHelperRecords, type StatusRecord } from './records.js'
import { resolveStart, type Start } from './start.js'
import { recorded, verdict } from './verdict.js'
import { launchFailure } from './launch-failure-part.js'

export interface Daemon {
  pid: number
  /** The daemon's session: the helper's pid, which led it. */
  sid: number
  /** Its process group: the session's, or with respawn the generation's own (its pid). */
  pgid: number
  /** The helper's pid (= sid); it has exited. */
  helperPid: number
  entry: string
  logFile?: string
  pidFile?: string
  /**
   * With respawn: the supervisor's pid (the pid file names it); `pid` is the
   * first generation of the daemon.
   */
  supervisorPid?: number
  /** With respawn: the policy the supervisor follows. */
  respawn?: RespawnPolicy
  /** True when the launch waited for ready() and got it. */
  ready: boolean
  /** Every stage the helper and the daemon reported, in order. */
  stages: StatusRecord[]
  /** With a name: the daemon's name and its saved start spec. */
  name?: string
  specPath?: string
  /**
   * What went wrong without failing the launch (each also a process
   * warning): e.g. the launcher's own lines could not be written to the log.
   */
  warnings?: LaunchWarning[]
}

export interface LaunchWarning {
  code: string
  message: string
}

/** The launcher's own log lines were lost (the daemon itself is unaffected). */
export const WARN_LOG_LOST = 'NODE_DAEMONIZE_LOG_LOST'
/** A named daemon started, but its spec could not be saved: stop and status by name will not find it. */
export const WARN_SPEC_UNSAVED = 'NODE_DAEMONIZE_SPEC_UNSAVED'

/** A problem that does not fail the launch: a process warning, kept in the result too. */
function warn(warnings: LaunchWarning[], code: string, message: string): void {
  warnings.push({ code, message })
  process.emitWarning(message, { code })
}

/**
 * The stage lines, in the log. Runs after the daemon exec'd, so it must not
 * throw: a full disk (ENOSPC) or a file that refuses writes (EINVAL) cannot
 * undo a started daemon, and an exception here would skip the clean-up. A
 * lost line is returned, to become a warning.
 */
function logStages(
  launch: Launch,
  logFd: number,
  records: StatusRecord[],
  helperPid: number,
  error?: DaemonizeError,
): unknown {
  if (launch.logFile === undefined) return undefined
  try {
    const log = fdLogger(logFd, { helperPid, entry: launch.entry })
    for (const r of records) {
      if (r.err === 0) log.info({ stage: r.stage, value: r.value }, `stage ${r.stage} ok`)
    }
    if (error) log.error({ stage: error.stage, code: error.code, errno: error.errno }, error.message)
    return undefined
  } catch (err) {
    return err
  }
}

function lostLogMessage(launch: Launch, err: unknown): string {
  const why = err instanceof Error ? err.message : String(err)
  return `cannot write the launcher's lines to the log ${launch.logFile}: ${why}`
}

/**
 * Start `entry` as a daemon. Resolves once the daemon has exec'd (and, with
 * waitReadyMs, called ready(); with startupGraceMs, survived that long);
 * rejects with a DaemonizeError naming the stage, and leaves nothing running.
 * With `name`: the pid file and log default to the standard directories,
 * a daemon of that name already running is refused (EALREADY), and the
 * start spec is saved once the daemon is up (docs/names.md).
 */
export async function daemonize(options: DaemonizeOptions): Promise<Daemon> {
  return launchStart(resolveStart(options))
}

/** daemonize() of a start already resolved (resolveStart): a restart resolves it before it stops the old daemon. */
export async function launchStart({ launch, named }: Start): Promise<Daemon> {
  if (named === undefined) return launchDaemon(launch)
  const { holdName, releaseName, saveNamed } = pidfileParts()
  const hold = await holdName(named)
  try {
    const daemon = await launchDaemon(launch, hold.logAt)
    daemon.name = named.name
    try {
      daemon.specPath = saveNamed(hold)
    } catch (err) {
      // The daemon runs: failing now would hide it. Its pid file still finds it.
      const warnings = daemon.warnings ?? []
      warn(warnings, WARN_SPEC_UNSAVED, `${named.name} started, but its spec could not be saved: ${(err as Error).message}`)
      daemon.warnings = warnings
    }
    return daemon
  } finally {
    releaseName(hold)
  }
}

/**
 * One launch. Whatever it took is let go of in one place: kept once the
 * daemon runs (or is kept on a timeout), else abandoned on the way out.
 */
async function launchDaemon(launch: Launch, logAt?: LogAt): Promise<Daemon> {
  const fds = new LaunchFds(launch)
  const warnings: LaunchWarning[] = []
  let kept = false
  try {
    await fds.take(logAt)
    if (fds.pidFile?.reclaimed && launch.logFile !== undefined) {
      const lost = warnReclaimed(fds.logFd, fds.pidFile)
      if (lost !== undefined) warn(warnings, WARN_LOG_LOST, lostLogMessage(launch, lost))
    }
    const helper = spawnHelper(launch, fds)
    const helperPid = helper.pid
    // Without a window the helper hands the end over to the daemon's execve: bounded here.
    const records = await readHelperRecords(helper, launch.windowMs === 0 ? handoffDeadlineMs() : undefined)
    // EOF: the helper has exited, or was killed. Unless the launch ended well
    // (or a timed-out daemon is kept on purpose), nothing it started may stay:
    // kill every process in its session, the daemon whose pid it may never
    // have reported included. Before the reap, while the helper's pid (the
    // session id) cannot be reused.
    const seen = recorded(records, launch, native().constants.ND_ETIMEOUT)
    if (!seen.keepSession) native().killSession(helperPid)
    const end = native().decodeWaitStatus(native().waitPid(helperPid))
    // The tail is read through the log fd, which stays open until the verdict is in.
    const v = verdict(seen, end, launch, () => launchFailure().logTail(fds.logFd))
    if (!v.ok && v.orphan) killDaemonOf(v.daemonPid as number, helperPid)
    // Neither throws: past this point the pid-file lock fd is closed on every path.
    const unwritten = logStages(launch, fds.logFd, records, helperPid, v.ok ? undefined : v.error)
    const unclosed = fds.closeLog()
    const lost = unwritten ?? (launch.logFile === undefined ? undefined : unclosed)
    if (lost !== undefined) warn(warnings, WARN_LOG_LOST, lostLogMessage(launch, lost))
    if (!v.ok) {
      // The daemon is gone (the helper reaped it) unless it was kept on a
      // timeout; only then does the pid file stay, locked by the daemon.
      if (v.keep) {
        fds.keep(v.daemonPid === undefined ? undefined : { pid: v.daemonPid, sid: helperPid })
        kept = true
      }
      throw v.error
    }
    const sid = v.sid ?? helperPid
    fds.keep({ pid: v.daemonPid, sid })
    kept = true
    const daemon: Daemon = {
      pid: v.daemonPid,
      sid,
      // A generation under the supervisor leads its own process group (docs/supervision.md).
      pgid: v.supervisorPid !== undefined ? v.daemonPid : sid,
      helperPid,
      entry: launch.entry,
      logFile: launch.logFile,
      pidFile: fds.pidFile?.path,
      ready: v.ready,
      stages: records,
    }
    if (v.supervisorPid !== undefined) {
      daemon.supervisorPid = v.supervisorPid
      daemon.respawn = launch.respawn
    }
    if (launch.notifySystemd) notifySystemd(daemon, warnings)
    if (warnings.length > 0) daemon.warnings = warnings
    return daemon
  } finally {
    if (!kept) fds.abandon()
  }
}

/** The plan, and the helper spawned with it and everything the launch took. */
function spawnHelper(launch: Launch, fds: LaunchFds): { pid: number; statusFd: number } {
  addon() // loaded on first use: under EMFILE the dlopen fails too, and must fail at a stage
  const plan = encodePlan(launchPlan(launch, { hasLock: fds.pidFile !== undefined }))
  const withSupervisor = launch.respawn !== undefined
  let helper: { pid: number; statusFd: number }
  try {
    helper = native().spawnHelper(
      helperPath(),
      plan,
      fds.logFd,
      fds.pidFile?.fd ?? -1,
      fds.pidFile?.pidFd ?? -1,
      fds.pidFile?.lockPath,
      fds.pidFile?.path,
      withSupervisor ? fds.stateFd : -1,
      withSupervisor ? fds.statePath : undefined,
      fds.socketFds,
    )
  } catch (err) {
    throw stageError('helper', 'cannot start the helper', err)
  }
  fds.handedOver()
  return helper
}

/**
 * SIGKILL the daemon a dead helper left behind. It is no longer our child,
 * so its pid could be recycled: signal only through a pidfd, and only a
 * process still in the helper's session (a session id is not reused while
 * any process is in that session).
 */
function killDaemonOf(pid: number, helperPid: number): void {
  let pidfd: number
  try {
    pidfd = native().pidfdOpen(pid)
  } catch {
    return // already gone
  }
  try {
    if (native().getsid(pid) === helperPid) native().pidfdSendSignal(pidfd, osSignals().SIGKILL)
  } catch {
    // exited meanwhile
  } finally {
    closeSync(pidfd)
  }
}

const NOTIFY_BARRIER_MS = 5000

/** Tell systemd, when it runs us, which process the service really is. */
function notifySystemd(daemon: Daemon, warnings: LaunchWarning[]): void {
  const socket = process.env.NOTIFY_SOCKET
  if (!socket) return
  try {
    // The barrier: systemd drops a message whose sender exited before it
    // was read, and a launcher CLI exits at once.
    native().sdNotify(socket, `MAINPID=${daemon.pid}\nREADY=1\n`, NOTIFY_BARRIER_MS)
  } catch (err) {
    // The daemon is up: failing the launch would hide a running process.
    // systemd (if there) times the start out; say why on stderr (the journal).
    warn(warnings, 'NODE_DAEMONIZE_NOTIFY', `cannot notify systemd at ${socket}: ${(err as Error).message}`)
  }
}

/**
 * A stale pid file (lock free) was taken over: say so in the log, naming the
 * pid it held. A line that cannot be written is returned, not thrown.
 */
function warnReclaimed(logFd: number, pidFile: AcquiredPidFile): unknown {
  const stalePid = pidFile.reclaimed?.pid ?? null
  try {
    fdLogger(logFd).warn(
      { pidFile: pidFile.path, stalePid },
      `reclaimed stale pid file ${pidFile.path}` +
        (stalePid === null ? '' : ` (pid ${stalePid} no longer held its lock; that process was not touched)`),
    )
    return undefined
  } catch (err) {
    return err
  }
}
