// Pid files and the lock files that guard them: taking them for a start
// (acquisition), handing them over, and letting them go when it fails.
// Reading them is in pidfile-read.ts, looking at them in pidfile-inspect.ts,
// removing them in pidfile-remove.ts.
//
// Two files per daemon, side by side:
//  - `<pidFile>.lock`: created 0600 and owned by the caller, so no other
//    user can open it, hence take no lock on it. The launcher takes an OFD
//    write lock on it before the helper is spawned; the daemon inherits that
//    open file (its fd 3, or 3+N after N listening sockets) and holds the lock for life, so "write lock held"
//    is exactly "daemon alive" (or a start/stop in progress).
//  - `<pidFile>`: 0644, owned by the caller, read by humans, tools and
//    status. Only the caller's side writes it (the helper, right after its
//    fork): the daemon never holds any descriptor of it, so neither it nor
//    its user can write another pid or gigabytes into the file that names it.
// Every read of a pid file is bounded: a pid is a few bytes.
import {
  closeSync,
  constants as fsc,
  fchmodSync,
  fstatSync,
  ftruncateSync,
  openSync,
  statSync,
  unlinkSync,
} from 'node:fs'
import { delay } from '../delay.js'
import { DaemonizeError, stageError } from '../errors.js'
import { checkFileShape, checkOwner, euid } from './checks.js'
import { native } from '../native.js'
import { lockPathOf, pidFileOpenError, readPidContent, readPidFd, type PidContent } from './pidfile-read.js'

export interface AcquiredPidFile {
  /** The lock file, write-locked: it becomes the daemon's fd 3 (3+N after N listening sockets). */
  fd: number
  /** The pid file, truncated: the helper writes the daemon's pid into it. */
  pidFd: number
  path: string
  lockPath: string
  /** The file held a pid whose lock was free: a dead daemon's, now reclaimed. */
  reclaimed?: { pid: number | null }
}

/** Why a start could not take the lock: a running daemon (pid), a start in progress (starting), or a locked file whose pid file says nothing usable. */
type Refusal = { error: DaemonizeError; starting: boolean }

/** The refusal for a held lock, naming the pid the pid file holds (read bounded, read-only). */
function refusal(path: string, lockPath: string): Refusal {
  let content: PidContent | undefined
  let why = ''
  let fd = -1
  try {
    fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK)
    const st = fstatSync(fd)
    if (st.nlink === 0) {
      content = { kind: 'empty' } // unlinked as we looked: a stop or a failed start is removing it
    } else {
      checkFileShape(st, path, 'pidfile', 'pid file')
      checkOwner(st, path, 'pidfile', 'pid file', [euid()])
      content = readPidContent(fd)
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') content = { kind: 'empty' }
    else why = (err as Error).message
  } finally {
    if (fd >= 0) closeSync(fd)
  }
  if (content?.kind === 'pid') {
    return {
      starting: false,
      error: new DaemonizeError(`already running (pid ${content.pid})`, { stage: 'pidfile', code: 'EALREADY', path, pid: content.pid }),
    }
  }
  if (content?.kind === 'empty') {
    return {
      starting: true,
      error: new DaemonizeError(`already running (starting; pid file ${path} is locked)`, { stage: 'pidfile', code: 'EALREADY', path }),
    }
  }
  if (content?.kind === 'other') why = `pid file ${path} does not hold a pid (it holds ${content.excerpt})`
  return {
    starting: false,
    error: new DaemonizeError(`already running (lock file ${lockPath} is locked; ${why})`, { stage: 'pidfile', code: 'EALREADY', path }),
  }
}

/**
 * What may refuse a start that has taken a free lock whose pid file names
 * `stalePid` (what that launch left still runs): an error to throw, else
 * undefined. Given by the launch layer, which knows what a launch leaves.
 */
export type StaleCheck = (pidFile: string, stalePid: number) => Error | undefined

function tryAcquire(path: string, blockedBy?: StaleCheck): AcquiredPidFile | Refusal {
  const { lockFile } = native()
  const lockPath = lockPathOf(path)
  const me = euid()
  for (let attempt = 0; attempt < 20; attempt++) {
    let fd: number
    try {
      // libuv opens every file O_CLOEXEC. 0600: no other user can open it,
      // so no other user can take any lock on it.
      fd = openSync(lockPath, fsc.O_RDWR | fsc.O_CREAT | fsc.O_NOFOLLOW | fsc.O_NONBLOCK, 0o600)
    } catch (err) {
      // A missing directory is the pid file's problem as much as its lock file's: name the pid file.
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ENOTDIR') throw pidFileOpenError(err, path, 'pidfile', 'open')
      throw pidFileOpenError(err, lockPath, 'pidfile', 'open', 'lock file')
    }
    let pidFd = -1
    let locked = false
    let blocked: Error | undefined
    try {
      const st = fstatSync(fd)
      checkFileShape(st, lockPath, 'pidfile', 'lock file')
      checkOwner(st, lockPath, 'pidfile', 'lock file', [me])
      // We create it 0600 and umask can only take bits away: group or other
      // access means someone chmodded it, and a descriptor another user
      // opened meanwhile stays valid after any chmod of ours; with it they
      // could hold a lock here for ever. Refuse rather than trust it.
      if ((st.mode & 0o077) !== 0) {
        throw new DaemonizeError(
          `lock file ${lockPath} has mode 0${(st.mode & 0o777).toString(8)}: other users may hold it open (and its lock); ` +
            `it must be 0600. Remove it (no daemon holds it while status says not running) and start again`,
          { stage: 'pidfile', code: 'EPERM', path: lockPath },
        )
      }
      if (!lockFile(fd)) {
        closeSync(fd)
        return refusal(path, lockPath)
      }
      // Locked, but is it still the file at lockPath? A stop or a failed
      // start may have unlinked it between our open and our lock.
      let now
      try {
        now = statSync(lockPath)
      } catch {
        now = undefined
      }
      if (!now || now.ino !== st.ino || now.dev !== st.dev) {
        closeSync(fd)
        continue
      }
      locked = true
      try {
        pidFd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_NOFOLLOW | fsc.O_NONBLOCK, 0o644)
      } catch (err) {
        throw pidFileOpenError(err, path, 'pidfile', 'open')
      }
      const pst = fstatSync(pidFd)
      checkFileShape(pst, path, 'pidfile', 'pid file')
      checkOwner(pst, path, 'pidfile', 'pid file', [me])
      // A daemon started by an earlier version holds a write lock on the pid
      // file itself (no lock file); nobody else can take one (a stranger
      // opens it read-only, so a read lock at most).
      if (native().isLocked(pidFd)) {
        const pid = readPidFd(pidFd)
        throw new DaemonizeError(pid === null ? `already running (pid file ${path} is locked)` : `already running (pid ${pid})`, {
          stage: 'pidfile',
          code: 'EALREADY',
          path,
          pid: pid ?? undefined,
        })
      }
      const stale = pst.size > 0 ? readPidFd(pidFd) : undefined
      // What the previous start's record says still runs (its supervisor was killed): refused, files untouched.
      blocked = stale == null || blockedBy === undefined ? undefined : blockedBy(path, stale)
      if (blocked !== undefined) throw blocked
      // Writable by its owner only: nobody else may put a pid into it.
      if ((pst.mode & 0o022) !== 0) fchmodSync(pidFd, pst.mode & 0o7755)
      ftruncateSync(pidFd, 0)
      return { fd, pidFd, path, lockPath, reclaimed: stale === undefined ? undefined : { pid: stale } }
    } catch (err) {
      if (pidFd >= 0) closeSync(pidFd)
      // Refused with the lock in hand (nobody else can be using the lock
      // file now): leave no lock file behind, neither for a pid file that
      // cannot be used, nor beside a daemon of the earlier layout, which
      // status would then judge by this lock file instead of its pid
      // file's own lock. Refused over survivors, every file stays as it
      // was: status and stop find them through it.
      if (locked && blocked === undefined) {
        try {
          unlinkSync(lockPath)
        } catch {
          // gone already
        }
      }
      closeSync(fd)
      if (err instanceof DaemonizeError) throw err
      throw stageError('pidfile', 'cannot lock pid file', err, path)
    }
  }
  throw new DaemonizeError(`pid file ${path} keeps being replaced; giving up`, { stage: 'pidfile', code: 'EAGAIN', path })
}

/**
 * Lock the lock file, then open, check and truncate the pid file, for a
 * start. Throws DaemonizeError code 'EALREADY' (with .pid when the pid file
 * names one) when the lock is held.
 */
export function acquirePidFile(path: string): AcquiredPidFile {
  const r = tryAcquire(path)
  if ('error' in r) throw r.error
  return r
}

/**
 * How long a start that finds the lock held and the pid file empty waits
 * for the concurrent start's pid, to name it (or for that start to fail and
 * let go). The helper writes the pid right after its fork, so this is
 * milliseconds normally; on a loaded machine it can be seconds, and waiting
 * costs nothing but the wait: the answer is a refusal either way.
 */
export const STARTING_WAIT_MS = 30_000

/**
 * acquirePidFile() for a start that can wait: while the lock is held and the
 * pid file still empty (another start is between its lock and its helper's
 * fork), poll through the event loop until the pid appears, so the refusal
 * names it, or the lock comes free (that start failed: this one goes ahead).
 */
export async function acquirePidFileWhenSettled(path: string, waitMs = STARTING_WAIT_MS, blockedBy?: StaleCheck): Promise<AcquiredPidFile> {
  const end = Date.now() + waitMs
  for (let step = 5; ; step = Math.min(step * 2, 100)) {
    const r = tryAcquire(path, blockedBy)
    if (!('error' in r)) return r
    if (!r.starting || Date.now() >= end) throw r.error
    await delay(step)
  }
}

/** Close what acquirePidFile() returned; the lock goes with the lock file's fd. */
export function closePidFile(pidFile: AcquiredPidFile | undefined): void {
  if (!pidFile) return
  if (pidFile.pidFd >= 0) {
    closeSync(pidFile.pidFd)
    pidFile.pidFd = -1
  }
  if (pidFile.fd >= 0) {
    closeSync(pidFile.fd)
    pidFile.fd = -1
  }
}

/** A start that failed: unlink its pid file and lock file (still under the lock), then let the lock go. */
export function releasePidFile(pidFile: AcquiredPidFile | undefined): void {
  if (!pidFile) return
  for (const p of [pidFile.path, pidFile.lockPath]) {
    try {
      unlinkSync(p)
    } catch {
      // already gone
    }
  }
  closePidFile(pidFile)
}
