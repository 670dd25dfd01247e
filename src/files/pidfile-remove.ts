// Removing a stopped daemon's pid file and lock file: only under the lock,
// and only when the lock file is still the one that was inspected.
import { closeSync, constants as fsc, fstatSync, openSync, statSync, unlinkSync } from 'node:fs'
import { stageError, type Stage } from '../errors.js'
import { native } from '../native.js'
import type { LockRef } from './pidfile-inspect.js'
import { pidFileOpenError } from './pidfile-read.js'

/** What removePidFile() did. */
export type PidFileRemoval = 'removed' | 'gone' | 'locked' | 'replaced'

/**
 * Unlink a pid file and its lock file, only while holding the lock and only
 * if the lock file is still the one that was inspected (same device and
 * inode): 'locked' when someone (a new start) holds it, 'replaced' when
 * another file is at the path now, 'gone' when there is none. A start that
 * opened the old lock file meanwhile finds it unlinked once it gets the
 * lock, and starts over.
 */
export function removePidFile(path: string, lock: LockRef, stage: Stage = 'stop'): PidFileRemoval {
  let fd: number
  try {
    fd = openSync(lock.path, fsc.O_RDWR | fsc.O_NOFOLLOW | fsc.O_NONBLOCK)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone'
    throw pidFileOpenError(err, lock.path, stage, 'remove', lock.path === path ? 'pid file' : 'lock file')
  }
  try {
    const st = fstatSync(fd)
    if (st.dev !== lock.dev || st.ino !== lock.ino) return 'replaced'
    let ok: boolean
    try {
      ok = native().lockFile(fd)
    } catch (err) {
      throw stageError(stage, `cannot lock ${lock.path}`, err, lock.path)
    }
    if (!ok) return 'locked'
    let now
    try {
      now = statSync(lock.path)
    } catch {
      return 'gone'
    }
    if (now.dev !== st.dev || now.ino !== st.ino) return 'replaced'
    // The pid file first: a pid file without a lock file reads as stale,
    // a lock file without a pid file as nothing at all.
    for (const p of lock.path === path ? [path] : [path, lock.path]) {
      try {
        unlinkSync(p)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw stageError(stage, `cannot remove ${p}`, err, p)
      }
    }
    return 'removed'
  } finally {
    // Closing drops the lock, after the unlinks.
    closeSync(fd)
  }
}
