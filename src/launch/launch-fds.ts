// What a launch holds until its daemon runs: the pid file and its lock, the
// state file, the log and the listening sockets. They are taken in one
// order (the pid file first: a refused start creates nothing else), handed
// to the helper, and let go of in one of two ways: keep() once the daemon
// runs (the daemon holds the lock through its own fd), or abandon() when
// the launch failed and nothing it started runs.
import { closeSync, fstatSync } from 'node:fs'
import { euid } from '../files/checks.js'
import type { AcquiredPidFile } from '../files/pidfile-acquire.js'
import type { Launch } from '../options/resolve.js'
import { openLaunchLog, type LogAt } from './log-file.js'
import { pidfileParts } from './pidfile-parts-part.js'
import { closeListeners, openListeners, ownedListenerFds } from './sockets.js'

type PidfileParts = ReturnType<typeof pidfileParts>

export class LaunchFds {
  pidFile?: AcquiredPidFile
  /** The state file (`<pidFile>.state`), emptied under the lock: the supervisor's record goes there, or the launcher's own (one-shot). */
  stateFd = -1
  /** Set once this launch has opened (and emptied) the state file: then it is this launch's to remove. */
  statePath?: string
  logFd = -1
  /** The daemon's sockets, in order (inherited ones included). */
  socketFds: number[] = []
  /** The sockets this launch opened itself, until they are closed. */
  private ownSockets: number[] = []
  /** What a launch with a pid file uses (pidfile-parts.ts), loaded by take() when it has one. */
  private parts?: PidfileParts

  constructor(private readonly launch: Launch) {}

  /**
   * Take everything the helper is handed, in order: the pid file's lock
   * (waiting for a start or stop in progress to settle), the state file, the
   * sockets (as the caller: root binds port 80; before the log, so that a
   * port in use creates no log file), the log. What was taken stays here
   * when one fails: abandon() lets go of it.
   */
  async take(logAt: LogAt | undefined): Promise<void> {
    const { launch } = this
    if (launch.pidFile !== undefined) {
      const parts = (this.parts = pidfileParts())
      this.pidFile = await parts.acquirePidFileWhenSettled(launch.pidFile, parts.STARTING_WAIT_MS, parts.survivorsBlockingStart)
      const statePath = parts.statePathOf(launch.pidFile)
      this.stateFd = parts.openStateFile(statePath)
      this.statePath = statePath
    }
    this.socketFds = openListeners(launch.listeners, launch.credentials, launch.umask)
    this.ownSockets = ownedListenerFds(launch.listeners, this.socketFds)
    this.logFd = openLaunchLog(launch, logAt).fd
  }

  /**
   * The helper has its own copies now: of the sockets, and under a
   * supervisor of the state file (which the supervisor keeps).
   */
  handedOver(): void {
    this.closeSockets()
    if (this.launch.respawn !== undefined) this.closeState()
  }

  /** Close the log (whatever close says: on Linux the fd is gone even when close(2) reports a deferred write error); what it said, if anything. */
  closeLog(): unknown {
    if (this.logFd < 0) return undefined
    const fd = this.logFd
    this.logFd = -1
    try {
      closeSync(fd)
      return undefined
    } catch (err) {
      return err
    }
  }

  /**
   * The daemon runs (or is kept on a timeout): write the one-shot launch
   * record of a daemon without a supervisor (still under our lock, so a stop
   * sees the record or an empty file), then let go of our fds of the pid
   * file and its lock: the daemon holds the lock through its own.
   */
  keep(daemon: { pid: number; sid: number } | undefined): void {
    if (daemon !== undefined) this.recordOneShot(daemon.pid, daemon.sid)
    this.closeState()
    this.parts?.closePidFile(this.pidFile)
    this.closeLog()
    this.closeSockets()
  }

  /** The launch failed and nothing it started runs: every fd closed, the state file removed, the pid file released (unlinked). */
  abandon(): void {
    this.closeState()
    if (this.statePath !== undefined) this.parts?.removeStateFile(this.statePath)
    this.parts?.releasePidFile(this.pidFile)
    this.closeLog()
    this.closeSockets()
  }

  /**
   * A one-shot daemon's launch record (files/launch-record.ts). Not written
   * (the daemon runs, and a stop without a record only refuses to signal
   * the lock's other holders) when it cannot be.
   */
  private recordOneShot(pid: number, sid: number): void {
    if (this.stateFd < 0 || this.pidFile === undefined || this.parts === undefined) return
    try {
      const st = fstatSync(this.pidFile.fd)
      const lock = { path: this.pidFile.lockPath, dev: st.dev, ino: st.ino }
      this.parts.writeOneShotRecord(this.stateFd, { pid, uid: this.launch.credentials?.uid ?? euid(), sid, lock })
    } catch {
      // see above
    }
  }

  private closeState(): void {
    if (this.stateFd < 0) return
    closeSync(this.stateFd)
    this.stateFd = -1
  }

  private closeSockets(): void {
    closeListeners(this.ownSockets)
    this.ownSockets = []
  }
}
