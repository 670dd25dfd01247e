// Reaching a running daemon without ever hitting the wrong process: a pidfd
// for the pid a held pid file names, opened only after checking (in
// /proc/<pid>/fd) that this very process holds the locked lock file;
// signals then go only through it (proc/pidfd.ts). Shared by stop, reload
// and graceful restart.
import { closeSync } from 'node:fs'
import { DaemonizeError, stageError, type Stage } from '../errors.js'
import { native } from '../native.js'
import type { LockRef } from '../files/pidfile-inspect.js'
import { processHoldsFile } from '../proc/lock-holders.js'

/**
 * A pidfd for the daemon named by a held pid file, after checking that this
 * very process holds the file. The caller closes it.
 */
export function openDaemon(s: { path: string; pid: number; lock: LockRef }, stage: Stage): number {
  const { pidfdOpen, pidfdSendSignal } = native()
  const pid = s.pid
  let pidfd: number
  try {
    pidfd = pidfdOpen(pid)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') {
      throw new DaemonizeError(
        `pid file ${s.path} is locked but names pid ${pid}, which does not exist; the lock is held by another process, so nothing was signalled`,
        { stage, code: 'ESRCH', path: s.path, pid },
      )
    }
    throw stageError(stage, `cannot open pid ${pid}`, err, s.path)
  }
  try {
    let holds: boolean
    try {
      holds = processHoldsFile(pid, s.lock)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EACCES' || code === 'EPERM') {
        throw new DaemonizeError(
          `cannot check that pid ${pid} holds ${s.lock.path}: /proc/${pid}/fd is not readable (run as the daemon's user or root); nothing was signalled`,
          { stage, code, path: s.path, pid },
        )
      }
      if (code === 'ENOENT') holds = false
      else throw stageError(stage, `cannot read /proc/${pid}/fd`, err, s.path)
    }
    if (!holds) {
      throw new DaemonizeError(
        `pid ${pid} named in ${s.path} does not hold ${s.lock.path} (the lock is held by another process); nothing was signalled`,
        { stage, code: 'ESRCH', path: s.path, pid },
      )
    }
    // Signal 0 through the pidfd: the process we opened is still alive, so
    // /proc/<pid> above was that process, not a successor with a recycled pid.
    try {
      pidfdSendSignal(pidfd, 0)
    } catch (err) {
      throw new DaemonizeError(`pid ${pid} exited while being checked`, { stage, code: 'ESRCH', path: s.path, pid, cause: err })
    }
    return pidfd
  } catch (err) {
    closeSync(pidfd)
    throw err
  }
}
