// daemonize(): checked options -> helper -> verified stages -> a running daemon.
import { closeSync, fstatSync } from 'node:fs'
import { constants as osc } from 'node:os'
import { DaemonizeError, stageError } from '../errors.js'
import { failure } from './failure.js'
import { logTail } from '../logs/tail.js'
import { signalName } from '../signals.js'
import { fdLogger } from '../log.js'
import { helperPath, native } from '../native.js'
import { closeNamed, prepareNamed, saveNamed } from './named.js'
import { type LogAt, openLaunchLog } from './log-file.js'
import { type DaemonizeOptions, type Launch, resolveLaunch } from '../options/resolve.js'
import { acquirePidFileWhenSettled, closePidFile, releasePidFile, type AcquiredPidFile } from '../files/pidfile-acquire.js'
import { encodePlan, launchPlan } from './plan.js'
import { closeListeners, openListeners, ownedListenerFds } from './sockets.js'
import { addon } from '../addon.js'
import type { RespawnPolicy } from '../options/respawn.js'
import { readStatus, type StatusRecord } from './records.js'
import { openStateFile, removeStateFile, statePathOf } from '../files/state-file.js'
import { writeOneShotRecord } from '../files/launch-record.js'
import { euid } from '../files/checks.js'

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

/** Close, whatever close says: on Linux the fd is gone even when close(2) reports a deferred write error. */
function closeLog(fd: number): unknown {
  try {
    closeSync(fd)
    return undefined
  } catch (err) {
    return err
  }
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
  const named = await prepareNamed(options)
  if (named === undefined) return launchDaemon(options)
  try {
    const daemon = await launchDaemon(named.options, named.logAt)
    daemon.name = named.name
    try {
      daemon.specPath = saveNamed(named)
    } catch (err) {
      // The daemon runs: failing now would hide it. Its pid file still finds it.
      const warnings = daemon.warnings ?? []
      warn(warnings, WARN_SPEC_UNSAVED, `${named.name} started, but its spec could not be saved: ${(err as Error).message}`)
      daemon.warnings = warnings
    }
    return daemon
  } finally {
    closeNamed(named)
  }
}

async function launchDaemon(options: DaemonizeOptions, logAt?: LogAt): Promise<Daemon> {
  const launch = resolveLaunch(options)
  let pidFile: AcquiredPidFile | undefined
  let logFd = -1
  let stateFd = -1
  let socketFds: number[] = []
  // Every launch with a pid file empties the state file under the lock: the
  // supervisor's record goes there, or (one-shot) the launcher's own, once
  // the daemon runs (files/launch-record.ts).
  const statePath = options.pidFile !== undefined ? statePathOf(options.pidFile) : undefined
  const withSupervisor = launch.respawn !== undefined
  let helperPid: number
  let statusFd: number
  const warnings: LaunchWarning[] = []
  try {
    if (options.pidFile !== undefined) {
      pidFile = await acquirePidFileWhenSettled(options.pidFile)
    }
    if (statePath !== undefined) stateFd = openStateFile(statePath)
    // As the caller (root binds port 80), before the log, so that a port in
    // use creates no log file and starts nothing.
    socketFds = openListeners(launch.listeners, launch.credentials, launch.umask)
    logFd = openLaunchLog(launch, logAt).fd
    if (pidFile?.reclaimed && launch.logFile !== undefined) {
      const lost = warnReclaimed(logFd, pidFile)
      if (lost !== undefined) warn(warnings, WARN_LOG_LOST, lostLogMessage(launch, lost))
    }
    addon() // loaded on first use: under EMFILE the dlopen fails too, and must fail at a stage
    const plan = encodePlan(launchPlan(launch, { hasLock: pidFile !== undefined }))
    try {
      ;({ pid: helperPid, statusFd } = native().spawnHelper(
        helperPath(),
        plan,
        logFd,
        pidFile?.fd ?? -1,
        pidFile?.pidFd ?? -1,
        pidFile?.lockPath,
        pidFile?.path,
        withSupervisor ? stateFd : -1,
        withSupervisor ? statePath : undefined,
        socketFds,
      ))
    } catch (err) {
      throw stageError('helper', 'cannot start the helper', err)
    }
  } catch (err) {
    if (stateFd >= 0) {
      closeSync(stateFd)
      removeStateFile(statePath as string)
    }
    releasePidFile(pidFile)
    if (logFd >= 0) closeSync(logFd)
    closeListeners(ownedListenerFds(launch.listeners, socketFds))
    throw err
  }
  // The helper (and the supervisor it forks) has its own copy.
  if (stateFd >= 0 && withSupervisor) {
    closeSync(stateFd)
    stateFd = -1
  }
  closeListeners(ownedListenerFds(launch.listeners, socketFds))

  let records: StatusRecord[]
  try {
    records = await readStatus(statusFd)
  } catch (err) {
    // Cannot watch the pipe: end the helper (and with it the launch), and
    // whatever it forked, before reaping it frees its pid (the session id).
    process.kill(helperPid, 'SIGKILL')
    native().killSession(helperPid)
    native().waitPid(helperPid)
    if (stateFd >= 0) closeSync(stateFd)
    if (statePath !== undefined) removeStateFile(statePath)
    releasePidFile(pidFile)
    closeSync(logFd)
    throw stageError('helper', 'cannot read the helper\'s status', err)
  }
  const fork = records.find((r) => r.stage === 'fork' && r.err === 0)
  const daemonPid = fork?.value
  const failed = records.find((r) => r.err !== 0)
  const exec = records.find((r) => r.stage === 'exec' && r.err === 0)
  const windowEnd = records.find((r) => (r.stage === 'ready' || r.stage === 'running') && r.err === 0)

  // EOF: the helper has exited, or was killed. Unless the launch ended well
  // (or a timed-out daemon is kept on purpose), nothing it started may stay:
  // kill every process in its session, the daemon whose pid it may never
  // have reported included. Before the reap, while the helper's pid (the
  // session id) cannot be reused.
  const succeeded = !failed && exec !== undefined && daemonPid !== undefined && (launch.windowMs === 0 || windowEnd !== undefined)
  const kept = failed?.err === native().constants.ND_ETIMEOUT && failed.stage === 'ready' && launch.keepOnTimeout
  if (!succeeded && !kept) native().killSession(helperPid)
  const helperEnd = native().decodeWaitStatus(native().waitPid(helperPid))
  let error: DaemonizeError | undefined
  // The tail is read through logFd, which stays open until the error is built.
  if (failed) error = failure(failed, launch, daemonPid, () => logTail(logFd))
  else if (!exec || daemonPid === undefined || helperEnd.code !== 0 || (launch.windowMs > 0 && !windowEnd)) {
    // The helper died mid-launch (killed from outside): its session was
    // emptied above, unless every record had arrived and it died only after
    // them; then the daemon it reported may be running, unwatched.
    if (daemonPid !== undefined) killDaemonOf(daemonPid, helperPid)
    const how = helperEnd.signal !== null ? `was killed by ${signalName(helperEnd.signal) ?? helperEnd.signal}` : `exited with code ${helperEnd.code}`
    error = new DaemonizeError(`the helper ${how} before the launch was complete`, {
      stage: 'helper',
      code: 'ERR_HELPER_DIED',
      pid: daemonPid,
      signal: helperEnd.signal === null ? null : (signalName(helperEnd.signal) ?? null),
    })
  }
  // Neither throws: past this point the pid-file lock fd is closed on every path.
  const unwritten = logStages(launch, logFd, records, helperPid, error)
  const unclosed = closeLog(logFd)
  const lost = unwritten ?? (launch.logFile === undefined ? undefined : unclosed)
  if (lost !== undefined) warn(warnings, WARN_LOG_LOST, lostLogMessage(launch, lost))
  if (error) {
    // The daemon is gone (the helper reaped it) unless it was kept on a
    // timeout; only then does the pid file stay, locked by the daemon.
    if (!(error.code === 'ERR_DAEMON_TIMEOUT' && launch.keepOnTimeout)) {
      if (stateFd >= 0) closeSync(stateFd)
      if (statePath !== undefined) removeStateFile(statePath)
      releasePidFile(pidFile)
    } else {
      if (daemonPid !== undefined) recordOneShot(stateFd, pidFile, daemonPid, launch.credentials?.uid, helperPid)
      closePidFile(pidFile)
    }
    throw error
  }
  // The daemon holds the lock through its own fd 3 (3+N), and the helper wrote
  // the pid file; ours can go, once the one-shot record is written (still
  // under our lock, so a stop sees the record or an empty file).
  recordOneShot(stateFd, pidFile, daemonPid as number, launch.credentials?.uid, records.find((r) => r.stage === 'session')?.value ?? helperPid)
  closePidFile(pidFile)

  const sid = records.find((r) => r.stage === 'session')?.value ?? helperPid
  const supervised = records.some((r) => r.stage === 'supervise' && r.err === 0)
  const daemon: Daemon = {
    pid: daemonPid as number,
    sid,
    // A generation under the supervisor leads its own process group (docs/supervision.md).
    pgid: supervised ? (daemonPid as number) : sid,
    helperPid,
    entry: launch.entry,
    logFile: launch.logFile,
    pidFile: pidFile?.path,
    ready: windowEnd?.stage === 'ready',
    stages: records,
  }
  const supervisor = records.find((r) => r.stage === 'supervise' && r.err === 0)
  if (supervisor !== undefined) {
    daemon.supervisorPid = supervisor.value
    daemon.respawn = launch.respawn
  }
  if (launch.notifySystemd) notifySystemd(daemon, warnings)
  if (warnings.length > 0) daemon.warnings = warnings
  return daemon
}

/**
 * A one-shot daemon's launch record (files/launch-record.ts), then the state
 * file's fd closed. Not written: the daemon runs, and a stop without a
 * record only refuses to signal the lock's other holders.
 */
function recordOneShot(stateFd: number, pidFile: AcquiredPidFile | undefined, pid: number, uid: number | undefined, sid: number): void {
  if (stateFd < 0 || pidFile === undefined) return
  try {
    const st = fstatSync(pidFile.fd)
    writeOneShotRecord(stateFd, { pid, uid: uid ?? euid(), sid, lock: { path: pidFile.lockPath, dev: st.dev, ino: st.ino } })
  } catch {
    // see above
  } finally {
    closeSync(stateFd)
  }
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
    if (native().getsid(pid) === helperPid) native().pidfdSendSignal(pidfd, osc.signals.SIGKILL)
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
