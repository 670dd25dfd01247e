// Signals and waits through a pidfd: the process it was opened for, or
// nothing (a pidfd never reaches a successor that got the same pid).
import { stageError, type Stage } from '../errors.js'
import { native } from '../native.js'

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
