// A read-only look at a pid file and its lock file: what they hold and
// whether the lock is held, without ever creating, locking or changing
// anything (status, stop and reload start here). Files unlinked while being
// looked at (a concurrent stop) are looked at again.
import { closeSync, lstatSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { DaemonizeError, stageError, type Stage } from '../errors.js'
import { checkFileShape, checkOwner, euid, untrustedStat } from './checks.js'
import { native } from '../native.js'
import { directoryExists, lockPathOf, MAX_PID_FILE_BYTES, pidContentOf, pidFileOpenError, type PidContent } from './pidfile-read.js'

/** The file whose write lock says "alive": the lock file (or, for a daemon started by an earlier version, the pid file itself). */
export interface LockRef {
  path: string
  dev: number
  ino: number
}

/** What a read-only look at a pid file found (it never creates, locks or changes anything). */
export type PidFileState =
  /** No pid file (and no lock held), in a directory that exists. */
  | { kind: 'absent'; path: string }
  /** The lock file is write-locked: a daemon (pid set) or a start or stop in progress (pid null). */
  | { kind: 'held'; path: string; pid: number | null; lock: LockRef }
  /** Nobody holds the lock: a stale file left by a dead daemon (pid null: the file is empty). */
  | { kind: 'free'; path: string; pid: number | null; lock?: LockRef }

export interface InspectOptions {
  /**
   * status's look, for monitoring users: accept files owned by the caller
   * or by root (their lock file must have the same owner), and test a lock
   * file the caller cannot open through /proc/locks. Without it (start,
   * stop, restart, reload) both files must be the caller's own.
   */
  monitor?: boolean
}

/** major and minor of a st_dev, as glibc encodes them (and as /proc/locks prints them, in hex). */
function devParts(dev: bigint): { major: bigint; minor: bigint } {
  return {
    major: ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn),
    minor: (dev & 0xffn) | ((dev >> 12n) & ~0xffn),
  }
}

/**
 * Does /proc/locks show a WRITE lock (OFD, POSIX or flock) on this file?
 * For a caller who may not open the lock file (a monitoring user looking at
 * root's 0600 file): /proc/locks names the inode as major:minor:inode, the
 * device numbers in hex. A read lock never counts; waiters ("->") neither.
 */
export function writeLockedInProcLocks(file: { dev: bigint; ino: bigint }, text = readFileSync('/proc/locks', 'latin1')): boolean {
  const { major, minor } = devParts(file.dev)
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/)
    // "1: OFDLCK ADVISORY  WRITE -1 fe:00:2146952 0 EOF"
    if (f.length < 6 || !['OFDLCK', 'POSIX', 'FLOCK'].includes(f[1]) || f[3] !== 'WRITE') continue
    const m = /^([0-9a-f]+):([0-9a-f]+):(\d+)$/i.exec(f[5])
    if (!m) continue
    if (BigInt(`0x${m[1]}`) === major && BigInt(`0x${m[2]}`) === minor && BigInt(m[3]) === file.ino) return true
  }
  return false
}

/** Unlinked while looked at: look again. */
const UNLINKED = Symbol('unlinked')

/**
 * Test the lock file's write lock without taking it. ownerUid: the owner
 * it must have (the pid file's), or undefined for any of `allowed`.
 * undefined when there is no lock file and no legacy lock on the pid file.
 */
function probeLock(
  path: string,
  stage: Stage,
  ownerUid: number | undefined,
  allowed: number[],
  pid?: { fd: number; path: string; dev: number; ino: number },
): { held: boolean; ref: LockRef } | undefined | typeof UNLINKED {
  const lockPath = lockPathOf(path)
  const checkLockOwner = (st: { uid: number }) =>
    checkOwner(st, lockPath, stage, 'lock file', ownerUid === undefined ? allowed : [ownerUid])
  const noLockFile = () => {
    // No lock file. A daemon started by an earlier version locks its pid
    // file itself; only a write lock counts (a stranger can take a read
    // lock on a readable file, never a write lock).
    if (pid && lockedBy(pid.fd, stage, path)) return { held: true, ref: { path: pid.path, dev: pid.dev, ino: pid.ino } }
    return undefined
  }
  // Opened and fstat'ed in one addon call (nothing read: a lock file holds
  // nothing), null when missing; the fd kept for the lock test.
  let f: ReturnType<ReturnType<typeof native>['readUntrusted']>
  try {
    f = native().readUntrusted(lockPath, 0, true)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if ((err as NodeJS.ErrnoException).syscall !== 'open') throw err
    if (code === 'EACCES' || code === 'EPERM') {
      // Not ours to open (root's 0600 lock file, seen by a monitoring user):
      // its metadata from the directory, its lock from /proc/locks.
      let st
      try {
        st = lstatSync(lockPath, { bigint: true })
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return UNLINKED
        throw pidFileOpenError(e, lockPath, stage, 'read', 'lock file')
      }
      const small = { isFile: () => st.isFile(), isDirectory: () => st.isDirectory(), nlink: Number(st.nlink), uid: Number(st.uid) }
      checkFileShape(small, lockPath, stage, 'lock file')
      checkLockOwner(small)
      let held: boolean
      try {
        held = writeLockedInProcLocks({ dev: st.dev, ino: st.ino })
      } catch (e) {
        throw stageError(stage, `cannot test the lock of ${lockPath} (it is not readable, and /proc/locks is not either)`, e, lockPath)
      }
      return { held, ref: { path: lockPath, dev: Number(st.dev), ino: Number(st.ino) } }
    }
    throw pidFileOpenError(err, lockPath, stage, 'read', 'lock file')
  }
  if (f === null) return noLockFile()
  const fd = f.fd as number
  try {
    const st = untrustedStat(f)
    if (st.nlink === 0) return UNLINKED
    checkFileShape(st, lockPath, stage, 'lock file')
    checkLockOwner(st)
    return { held: lockedBy(fd, stage, lockPath), ref: { path: lockPath, dev: st.dev, ino: st.ino } }
  } finally {
    closeSync(fd)
  }
}

function lockedBy(fd: number, stage: Stage, path: string): boolean {
  try {
    return native().isLocked(fd)
  } catch (err) {
    throw stageError(stage, `cannot test the lock of ${path}`, err, path)
  }
}

/**
 * Look at a pid file and its lock file without creating either or taking
 * the lock: both opened O_RDONLY|O_NOFOLLOW|O_NONBLOCK (a FIFO put there
 * cannot hang us), checked to be regular files with one link owned by the
 * caller (see InspectOptions.monitor), the pid read bounded, the lock tested
 * with F_OFD_GETLK (a write lock only). Throws a DaemonizeError with `stage`
 * for a path that is not a usable pid file (symlink, directory, hard link,
 * another user's, unreadable, missing directory) or holds something other
 * than a pid.
 */
export function inspectPidFile(path: string, stage: Stage = 'pidfile', options: InspectOptions = {}): PidFileState {
  // A file unlinked while we looked at it (a stop removing both, a failed
  // start) has no links left: look again, and the path tells what is there now.
  for (let attempt = 0; attempt < 10; attempt++) {
    const s = inspectOnce(path, stage, options)
    if (s !== undefined) return s
  }
  throw new DaemonizeError(`pid file ${path} keeps being replaced while it is read`, { stage, code: 'EAGAIN', path })
}

function inspectOnce(path: string, stage: Stage, options: InspectOptions): PidFileState | undefined {
  const me = euid()
  const allowed = options.monitor && me !== 0 ? [me, 0] : [me]
  const noPidFile = (): PidFileState | undefined => {
    // No pid file, but a start between its lock and its pid, or a stop
    // between its two unlinks, holds the lock file.
    const lock = probeLock(path, stage, undefined, allowed)
    if (lock === UNLINKED) return undefined
    return lock?.held ? { kind: 'held', path, pid: null, lock: lock.ref } : { kind: 'absent', path }
  }
  // Opened, fstat'ed and read in one addon call (no exception when it is
  // missing: `list` of many stopped names), the fd kept for the lock test.
  let f: ReturnType<ReturnType<typeof native>['readUntrusted']>
  try {
    f = native().readUntrusted(path, MAX_PID_FILE_BYTES, true)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).syscall === 'read') throw stageError(stage, `cannot read pid file ${path}`, err, path)
    throw pidFileOpenError(err, path, stage, 'read')
  }
  if (f === null) {
    if (directoryExists(dirname(path))) return noPidFile()
    throw pidFileOpenError(Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' }), path, stage, 'read')
  }
  const fd = f.fd as number
  try {
    const st = untrustedStat(f)
    if (st.nlink === 0) return undefined
    checkFileShape(st, path, stage, 'pid file')
    checkOwner(st, path, stage, 'pid file', allowed)
    const content: PidContent = pidContentOf(f.data ?? Buffer.alloc(0))
    if (content.kind === 'other') {
      throw new DaemonizeError(`pid file ${path} does not hold a pid (it holds ${content.excerpt})`, { stage, code: 'EINVAL', path })
    }
    const pid = content.kind === 'pid' ? content.pid : null
    const lock = probeLock(path, stage, st.uid, allowed, { fd, path, dev: st.dev, ino: st.ino })
    if (lock === UNLINKED) return undefined
    if (lock === undefined) return { kind: 'free', path, pid }
    return { kind: lock.held ? 'held' : 'free', path, pid, lock: lock.ref }
  } finally {
    closeSync(fd)
  }
}
