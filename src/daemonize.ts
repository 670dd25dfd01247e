// daemonize(): checked options -> helper -> verified stages -> a running daemon.
import { closeSync, unlinkSync } from 'node:fs'
import { constants as osc } from 'node:os'
import { DaemonizeError, stageError } from './errors.js'
import { failure } from './failure.js'
import { signalName } from './signals.js'
import { fdLogger } from './log.js'
import { helperPath, native } from './native.js'
import { type DaemonizeOptions, type Launch, openLaunchLog, resolveLaunch } from './options.js'
import { acquirePidFileWhenSettled, type AcquiredPidFile } from './pidfile.js'
import { encodePlan, launchPlan } from './plan.js'
import { readStatus, type StatusRecord } from './status.js'

export interface Daemon {
  pid: number
  /** The daemon's session: the helper's pid, which led it. */
  sid: number
  pgid: number
  /** The helper's pid (= sid); it has exited. */
  helperPid: number
  entry: string
  logFile?: string
  pidFile?: string
  /** True when the launch waited for ready() and got it. */
  ready: boolean
  /** Every stage the helper and the daemon reported, in order. */
  stages: StatusRecord[]
}


function logStages(launch: Launch, logFd: number, records: StatusRecord[], helperPid: number, error?: DaemonizeError): void {
  if (launch.logFile === undefined) return
  const log = fdLogger(logFd, { helperPid, entry: launch.entry })
  for (const r of records) {
    if (r.err === 0) log.info({ stage: r.stage, value: r.value }, `stage ${r.stage} ok`)
  }
  if (error) log.error({ stage: error.stage, code: error.code, errno: error.errno }, error.message)
}

/**
 * Start `entry` as a daemon. Resolves once the daemon has exec'd (and, with
 * waitReadyMs, called ready(); with startupGraceMs, survived that long);
 * rejects with a DaemonizeError naming the stage, and leaves nothing running.
 */
export async function daemonize(options: DaemonizeOptions): Promise<Daemon> {
  const launch = resolveLaunch(options)
  let pidFile: AcquiredPidFile | undefined
  let logFd = -1
  let helperPid: number
  let statusFd: number
  try {
    if (options.pidFile !== undefined) {
      pidFile = await acquirePidFileWhenSettled(options.pidFile)
    }
    logFd = openLaunchLog(launch).fd
    if (pidFile?.reclaimed && launch.logFile !== undefined) warnReclaimed(logFd, pidFile)
    const plan = encodePlan(launchPlan(launch, { hasLock: pidFile !== undefined }))
    try {
      ;({ pid: helperPid, statusFd } = native().spawnHelper(helperPath(), plan, logFd, pidFile?.fd ?? -1, pidFile?.path))
    } catch (err) {
      throw stageError('helper', 'cannot start the helper', err)
    }
  } catch (err) {
    releasePidFile(pidFile)
    if (logFd >= 0) closeSync(logFd)
    throw err
  }

  let records: StatusRecord[]
  try {
    records = await readStatus(statusFd)
  } catch (err) {
    // Cannot watch the pipe: end the helper (and with it the launch), and
    // whatever it forked, before reaping it frees its pid (the session id).
    process.kill(helperPid, 'SIGKILL')
    native().killSession(helperPid)
    native().waitPid(helperPid)
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
  if (failed) error = failure(failed, launch, daemonPid)
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
  try {
    logStages(launch, logFd, records, helperPid, error)
  } finally {
    closeSync(logFd)
  }
  if (error) {
    // The daemon is gone (the helper reaped it) unless it was kept on a
    // timeout; only then does the pid file stay, locked by the daemon.
    if (!(error.code === 'ERR_DAEMON_TIMEOUT' && launch.keepOnTimeout)) releasePidFile(pidFile)
    else if (pidFile) closeSync(pidFile.fd)
    throw error
  }
  // The daemon holds the lock through its own fd 3; ours can go.
  if (pidFile) closeSync(pidFile.fd)

  const sid = records.find((r) => r.stage === 'session')?.value ?? helperPid
  const daemon: Daemon = {
    pid: daemonPid as number,
    sid,
    pgid: sid,
    helperPid,
    entry: launch.entry,
    logFile: launch.logFile,
    pidFile: pidFile?.path,
    ready: windowEnd?.stage === 'ready',
    stages: records,
  }
  if (launch.notifySystemd) notifySystemd(daemon)
  return daemon
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

/** Unlink a pid file this launch holds the lock on, then let the lock go. */
function releasePidFile(pidFile: AcquiredPidFile | undefined): void {
  if (!pidFile) return
  try {
    unlinkSync(pidFile.path)
  } catch {
    // already gone
  }
  closeSync(pidFile.fd)
}

const NOTIFY_BARRIER_MS = 5000

/** Tell systemd, when it runs us, which process the service really is. */
function notifySystemd(daemon: Daemon): void {
  const socket = process.env.NOTIFY_SOCKET
  if (!socket) return
  try {
    // The barrier: systemd drops a message whose sender exited before it
    // was read, and a launcher CLI exits at once.
    native().sdNotify(socket, `MAINPID=${daemon.pid}\nREADY=1\n`, NOTIFY_BARRIER_MS)
  } catch (err) {
    // The daemon is up: failing the launch would hide a running process.
    // systemd (if there) times the start out; say why on stderr (the journal).
    process.emitWarning(`cannot notify systemd at ${socket}: ${(err as Error).message}`, { code: 'NODE_DAEMONIZE_NOTIFY' })
  }
}

/** A stale pid file (lock free) was taken over: say so in the log, naming the pid it held. */
function warnReclaimed(logFd: number, pidFile: AcquiredPidFile): void {
  const stalePid = pidFile.reclaimed?.pid ?? null
  fdLogger(logFd).warn(
    { pidFile: pidFile.path, stalePid },
    `reclaimed stale pid file ${pidFile.path}` +
      (stalePid === null ? '' : ` (pid ${stalePid} no longer held its lock; that process was not touched)`),
  )
}
