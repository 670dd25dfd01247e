// Pid files and the lock files that guard them.
//
// Two files per daemon, side by side:
//  - `<pidFile>.lock`: created 0600 and owned by the caller, so no other
//    user can open it, hence take no lock on it. The launcher takes an OFD
//    write lock on it before the helper is spawned; the daemon inherits that
//    open file (its fd 3) and holds the lock for life, so "write lock held"
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
  lstatSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  unlinkSync,
} from 'node:fs'
import { dirname } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { DaemonizeError, stageError, type Stage } from './errors.js'
import { native } from './native.js'

export interface AcquiredPidFile {
  /** The lock file, write-locked: it becomes the daemon's fd 3. */
  fd: number
  /** The pid file, truncated: the helper writes the daemon's pid into it. */
  pidFd: number
  path: string
  lockPath: string
  /** The file held a pid whose lock was free: a dead daemon's, now reclaimed. */
  reclaimed?: { pid: number | null }
}

/** The lock file that guards a pid file. */
export function lockPathOf(pidFile: string): string {
  return `${pidFile}.lock`
}

/** The pid written in the file, or null when it holds none. */
export function parsePid(text: string): number | null {
  const m = /^\s*(\d+)\s*$/.exec(text)
  if (!m) return null
  const pid = Number(m[1])
  return pid > 0 && pid <= 0x3fffffff ? pid : null
}

/** At most this many bytes of a pid file are ever read: a pid and a newline fit many times over. */
export const MAX_PID_FILE_BYTES = 64

/** What a pid file holds, read through fd, bounded. */
export type PidContent = { kind: 'empty' } | { kind: 'pid'; pid: number } | { kind: 'other'; excerpt: string }

/** Printable ASCII as is, anything else as \xNN: an excerpt that is safe to print on one line. */
function escapeExcerpt(bytes: Buffer): string {
  let out = ''
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`
  return out
}

/**
 * Read at most MAX_PID_FILE_BYTES + 1 bytes from offset 0 (never the whole
 * file: someone may have made it gigabytes long) and say what they are.
 */
export function readPidContent(fd: number): PidContent {
  const buf = Buffer.alloc(MAX_PID_FILE_BYTES + 1)
  let got = 0
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, got)
    if (n === 0) break
    got += n
  }
  const bytes = buf.subarray(0, got)
  if (got === 0) return { kind: 'empty' }
  if (got <= MAX_PID_FILE_BYTES) {
    const text = bytes.toString('latin1')
    const pid = parsePid(text)
    if (pid !== null) return { kind: 'pid', pid }
    if (text.trim() === '') return { kind: 'empty' }
  }
  const shown = bytes.subarray(0, 40)
  return { kind: 'other', excerpt: `"${escapeExcerpt(shown)}"${got > shown.length ? '…' : ''}` }
}

/** The pid in fd, or null when it holds none (or cannot be read). */
function readPidFd(fd: number): number | null {
  try {
    const c = readPidContent(fd)
    return c.kind === 'pid' ? c.pid : null
  } catch {
    return null
  }
}

/** A regular file with one link, or a DaemonizeError saying what it is instead. */
export function checkPidFileShape(
  st: { isFile(): boolean; isDirectory?(): boolean; nlink: number },
  path: string,
  stage: Stage = 'pidfile',
  what = 'pid file',
): void {
  if (st.isDirectory?.()) {
    throw new DaemonizeError(`${what} ${path} is a directory`, { stage, code: 'EISDIR', path })
  }
  if (!st.isFile()) {
    throw new DaemonizeError(`${what} ${path} is not a regular file`, { stage, code: 'EINVAL', path })
  }
  if (st.nlink !== 1) {
    throw new DaemonizeError(`${what} ${path} has ${st.nlink} links; refusing a hard-linked ${what}`, {
      stage,
      code: 'EMLINK',
      path,
    })
  }
}

/** "alice (uid 1000)", or "uid 1000" for a uid without a name. */
export function describeUser(uid: number): string {
  let name: string | undefined
  try {
    name = native().lookupUser(uid)?.name
  } catch {
    name = undefined
  }
  return name ? `${name} (uid ${uid})` : `uid ${uid}`
}

/**
 * Refuse a pid file or lock file that someone other than `allowed` owns:
 * whoever owns the file that names a daemon decides which process a stop
 * signals. Another user's file in a shared directory is theirs to fill.
 */
export function checkOwner(st: { uid: number }, path: string, stage: Stage, what: string, allowed: number[]): void {
  if (allowed.includes(st.uid)) return
  const wanted = allowed.map(describeUser).join(' or ')
  throw new DaemonizeError(
    `${what} ${path} is owned by ${describeUser(st.uid)}, not by ${wanted}; refusing it (its owner could name any process in it)`,
    { stage, code: 'EPERM', path },
  )
}

function euid(): number {
  return process.geteuid?.() ?? -1
}

/** Turn a failed open() of a pid file into an error that says what is wrong with the path. */
export function pidFileOpenError(err: unknown, path: string, stage: Stage, action: string, what = 'pid file'): DaemonizeError {
  const code = (err as NodeJS.ErrnoException).code
  let why: string
  switch (code) {
    case 'ELOOP':
      why = `${what} ${path} is a symbolic link; refusing it`
      break
    case 'EACCES':
    case 'EPERM':
      why = `cannot ${action} ${what} ${path}: permission denied`
      break
    case 'EISDIR':
      why = `${what} ${path} is a directory`
      break
    case 'ENOENT':
      why = `cannot ${action} ${what} ${path}: its directory ${dirname(path)} does not exist`
      break
    case 'ENOTDIR':
      why = `cannot ${action} ${what} ${path}: a component of its directory is not a directory`
      break
    default:
      return stageError(stage, `cannot ${action} ${what} ${path}`, err, path)
  }
  return new DaemonizeError(why, { ...errorFields(err), stage, code: code as string, path, cause: err })
}

function errorFields(err: unknown): { errno?: number; syscall?: string } {
  const e = err as NodeJS.ErrnoException
  return { errno: typeof e.errno === 'number' ? e.errno : undefined, syscall: typeof e.syscall === 'string' ? e.syscall : undefined }
}


function directoryExists(dir: string): boolean {
  try {
    return statSync(dir).isDirectory()
  } catch {
    return false
  }
}

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
  let fd: number
  try {
    fd = openSync(lockPath, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      // No lock file. A daemon started by an earlier version locks its pid
      // file itself; only a write lock counts (a stranger can take a read
      // lock on a readable file, never a write lock).
      if (pid && lockedBy(pid.fd, stage, path)) return { held: true, ref: { path: pid.path, dev: pid.dev, ino: pid.ino } }
      return undefined
    }
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
      checkPidFileShape(small, lockPath, stage, 'lock file')
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
  try {
    const st = fstatSync(fd)
    if (st.nlink === 0) return UNLINKED
    checkPidFileShape(st, lockPath, stage, 'lock file')
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
  let fd: number
  try {
    fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && directoryExists(dirname(path))) {
      // No pid file, but a start between its lock and its pid, or a stop
      // between its two unlinks, holds the lock file.
      const lock = probeLock(path, stage, undefined, allowed)
      if (lock === UNLINKED) return undefined
      return lock?.held ? { kind: 'held', path, pid: null, lock: lock.ref } : { kind: 'absent', path }
    }
    throw pidFileOpenError(err, path, stage, 'read')
  }
  try {
    const st = fstatSync(fd)
    if (st.nlink === 0) return undefined
    checkPidFileShape(st, path, stage)
    checkOwner(st, path, stage, 'pid file', allowed)
    let content: PidContent
    try {
      content = readPidContent(fd)
    } catch (err) {
      throw stageError(stage, `cannot read pid file ${path}`, err, path)
    }
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
      checkPidFileShape(st, path)
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

function tryAcquire(path: string): AcquiredPidFile | Refusal {
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
    try {
      const st = fstatSync(fd)
      checkPidFileShape(st, lockPath, 'pidfile', 'lock file')
      checkOwner(st, lockPath, 'pidfile', 'lock file', [me])
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
      // Ours (checked above): no group or other access, whatever made it.
      if ((st.mode & 0o077) !== 0) fchmodSync(fd, 0o600)
      try {
        pidFd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_NOFOLLOW | fsc.O_NONBLOCK, 0o644)
      } catch (err) {
        throw pidFileOpenError(err, path, 'pidfile', 'open')
      }
      const pst = fstatSync(pidFd)
      checkPidFileShape(pst, path)
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
      // Writable by its owner only: nobody else may put a pid into it.
      if ((pst.mode & 0o022) !== 0) fchmodSync(pidFd, pst.mode & 0o7755)
      const stale = pst.size > 0 ? readPidFd(pidFd) : undefined
      ftruncateSync(pidFd, 0)
      return { fd, pidFd, path, lockPath, reclaimed: stale === undefined ? undefined : { pid: stale } }
    } catch (err) {
      if (pidFd >= 0) closeSync(pidFd)
      // Refused with the lock in hand (nobody else can be using the lock
      // file now): leave no lock file behind, neither for a pid file that
      // cannot be used, nor beside a daemon of the earlier layout, which
      // status would then judge by this lock file instead of its pid
      // file's own lock.
      if (locked) {
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
export async function acquirePidFileWhenSettled(path: string, waitMs = STARTING_WAIT_MS): Promise<AcquiredPidFile> {
  const end = Date.now() + waitMs
  for (let step = 5; ; step = Math.min(step * 2, 100)) {
    const r = tryAcquire(path)
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
