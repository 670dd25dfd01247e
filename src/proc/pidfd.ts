// Signals and waits through a pidfd: the process it was opened for, or
// nothing (a pidfd never reaches a successor that got the same pid).
import { closeSync } from 'node:fs'
import { stageError, type Stage } from '../errors.js'
import { native } from '../native.js'
import { procIdentity, type ProcIdentity } from './identity.js'

/**
 * A pidfd for pid, and what /proc shows of it, only while `isStill` holds:
 * /proc is read once the pidfd is open, and a signal 0 through the pidfd
 * afterwards proves that what was read is the process opened, not a
 * successor with a recycled pid. undefined when it is gone or not the
 * process meant. The caller closes the pidfd. Throws a DaemonizeError
 * (stage) when the pidfd cannot be opened for another reason than ESRCH.
 */
export function openIfStill(pid: number, isStill: (id: ProcIdentity) => boolean, stage: Stage): { pidfd: number; id: ProcIdentity } | undefined {
  let pidfd: number
  try {
    pidfd = native().pidfdOpen(pid)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return undefined
    throw stageError(stage, `cannot open pid ${pid}`, err)
  }
  try {
    const id = procIdentity(pid)
    if (id !== undefined && isStill(id) && sendSignal(pidfd, 0, pid, stage)) return { pidfd, id }
  } catch (err) {
    closeSync(pidfd)
    throw err
  }
  closeSync(pidfd)
  return undefined
}

/** Send sig through pidfd; false when the process is already gone. Throws a DaemonizeError (stage) for anything else. */
export function sendSignal(pidfd: number, sig: number, pid: number, stage: Stage): boolean {
  try {
    native().pidfdSendSignal(pidfd, sig)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false // already gone
    throw stageError(stage, `cannot signal pid ${pid}`, err)
  }
}

/** Resolves true when the process behind pidfd has exited, false after ms. Event loop only. */
export function waitExit(pidfd: number, ms: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let done = false
    let watcher: { close(): void } | undefined
    const finish = (exited: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      watcher?.close()
      resolve(exited)
    }
    // setTimeout takes at most 2^31-1 ms (~24.8 days); longer waits are that long.
    const timer = setTimeout(() => finish(false), Math.min(ms, 0x7fffffff))
    try {
      // A pidfd turns readable when its process exits.
      watcher = new (native().FdWatcher)(pidfd, () => finish(true))
    } catch (err) {
      done = true
      clearTimeout(timer)
      reject(err)
    }
  })
}
