// Pid files guarded by an OFD lock. The launcher takes the lock before the
// helper is spawned; the daemon inherits the same open file (fd 3) and holds
// the lock for life, so "lock held" is exactly "daemon alive".
import { closeSync, constants as fsc, fstatSync, ftruncateSync, openSync, readFileSync, statSync, unlinkSync } from 'node:fs'
import { dirname } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { DaemonizeError, stageError, type Stage } from './errors.js'
import { native } from './native.js'

export interface AcquiredPidFile {
  fd: number
  path: string
  /** The file held a pid whose lock was free: a dead daemon's, now reclaimed. */
  reclaimed?: { pid: number | null }
}

/** The pid written in the file, or null when it holds none. */
export function parsePid(text: string): number | null {
  const m = /^\s*(\d+)\s*$/.exec(text)
  if (!m) return null
  const pid = Number(m[1])
  return pid > 0 && pid <= 0x3fffffff ? pid : null
}

function readPidFd(fd: number): number | null {
  try {
    return parsePid(readFileSync(fd, 'utf8'))
  } catch {
    return null
  }
}

/** A regular file with one link, or a DaemonizeError saying what it is instead. */
export function checkPidFileShape(
  st: { isFile(): boolean; isDirectory?(): boolean; nlink: number },
  path: string,
  stage: Stage = 'pidfile',
): void {
  if (st.isDirectory?.()) {
    throw new DaemonizeError(`pid file ${path} is a directory`, { stage, code: 'EISDIR', path })
  }
  if (!st.isFile()) {
    throw new DaemonizeError(`pid file ${path} is not a regular file`, { stage, code: 'EINVAL', path })
  }
  if (st.nlink !== 1) {
    throw new DaemonizeError(`pid file ${path} has ${st.nlink} links; refusing a hard-linked pid file`, {
      stage,
      code: 'EMLINK',
      path,
    })
  }
}

/** Turn a failed open() of a pid file into an error that says what is wrong with the path. */
export function pidFileOpenError(err: unknown, path: string, stage: Stage, action: string): DaemonizeError {
  const code = (err as NodeJS.ErrnoException).code
  let why: string
  switch (code) {
    case 'ELOOP':
      why = `pid file ${path} is a symbolic link; refusing it`
      break
    case 'EACCES':
    case 'EPERM':
      why = `cannot ${action} pid file ${path}: permission denied`
      break
    case 'EISDIR':
      why = `pid file ${path} is a directory`
      break
    case 'ENOENT':
      why = `cannot ${action} pid file ${path}: its directory ${dirname(path)} does not exist`
      break
    case 'ENOTDIR':
      why = `cannot ${action} pid file ${path}: a component of its directory is not a directory`
      break
    default:
      return stageError(stage, `cannot ${action} pid file ${path}`, err, path)
  }
  return new DaemonizeError(why, { ...errorFields(err), stage, code: code as string, path, cause: err })
}

function errorFields(err: unknown): { errno?: number; syscall?: string } {
  const e = err as NodeJS.ErrnoException
  return { errno: typeof e.errno === 'number' ? e.errno : undefined, syscall: typeof e.syscall === 'string' ? e.syscall : undefined }
}

/** What a read-only look at a pid file found (it never creates, locks or changes it). */
export type PidFileState =
  /** No file, in a directory that exists. */
  | { kind: 'absent'; path: string }
  /** An open file description holds the lock: a daemon (pid set) or a start in progress (pid null). */
  | { kind: 'held'; path: string; pid: number | null; dev: number; ino: number }
  /** Nobody holds the lock: a stale file left by a dead daemon (pid null: the file is empty). */
  | { kind: 'free'; path: string; pid: number | null; dev: number; ino: number }

/**
 * Look at a pid file without creating it or taking its lock: opened
 * O_RDONLY|O_NOFOLLOW (and O_NONBLOCK, so a FIFO put there cannot hang us),
 * checked to be a regular file with one link, its lock tested with
 * F_OFD_GETLK. Throws a DaemonizeError with `stage` for a path that is not
 * a usable pid file (symlink, directory, hard link, unreadable, missing
 * directory) or holds something other than a pid.
 */
export function inspectPidFile(path: string, stage: Stage = 'pidfile'): PidFileState {
  let fd: number
  try {
    fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && directoryExists(dirname(path))) return { kind: 'absent', path }
    throw pidFileOpenError(err, path, stage, 'read')
  }
  try {
    const st = fstatSync(fd)
    checkPidFileShape(st, path, stage)
    let locked: boolean
    try {
      locked = native().isLocked(fd)
    } catch (err) {
      throw stageError(stage, `cannot test the lock of pid file ${path}`, err, path)
    }
    let text: string
    try {
      text = readFileSync(fd, 'utf8')
    } catch (err) {
      throw stageError(stage, `cannot read pid file ${path}`, err, path)
    }
    const pid = parsePid(text)
    if (pid === null && text.trim() !== '') {
      const shown = JSON.stringify(text.length > 40 ? text.slice(0, 40) + '…' : text)
      throw new DaemonizeError(`pid file ${path} does not hold a pid (it holds ${shown})`, { stage, code: 'EINVAL', path })
    }
    return { kind: locked ? 'held' : 'free', path, pid, dev: st.dev, ino: st.ino }
  } finally {
    closeSync(fd)
  }
}

function directoryExists(dir: string): boolean {
  try {
    return statSync(dir).isDirectory()
  } catch {
    return false
  }
}

/** What removePidFile() did. */
export type PidFileRemoval = 'removed' | 'gone' | 'locked' | 'replaced'

/**
 * Unlink a pid file, only while holding its lock and only if it is still the
 * file that was inspected (same device and inode): 'locked' when someone
 * (a new start) holds it, 'replaced' when another file is at the path now,
 * 'gone' when there is none.
 */
export function removePidFile(path: string, expected: { dev: number; ino: number }, stage: Stage = 'stop'): PidFileRemoval {
  let fd: number
  try {
    fd = openSync(path, fsc.O_RDWR | fsc.O_NOFOLLOW | fsc.O_NONBLOCK)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone'
    throw pidFileOpenError(err, path, stage, 'remove')
  }
  try {
    const st = fstatSync(fd)
    if (st.dev !== expected.dev || st.ino !== expected.ino) return 'replaced'
    let ok: boolean
    try {
      ok = native().lockFile(fd)
    } catch (err) {
      throw stageError(stage, `cannot lock pid file ${path}`, err, path)
    }
    if (!ok) return 'locked'
    let now
    try {
      now = statSync(path)
    } catch {
      return 'gone'
    }
    if (now.dev !== st.dev || now.ino !== st.ino) return 'replaced'
    try {
      unlinkSync(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone'
      throw stageError(stage, `cannot remove pid file ${path}`, err, path)
    }
    return 'removed'
  } finally {
    // Closing drops the lock, after the unlink.
    closeSync(fd)
  }
}

/**
 * Open and lock the pid file for a start. Throws DaemonizeError code
 * 'EALREADY' (with .pid) when a live daemon holds it.
 */
export function acquirePidFile(path: string): AcquiredPidFile {
  const { lockFile } = native()
  for (let attempt = 0; attempt < 20; attempt++) {
    let fd: number
    try {
      // libuv opens every file O_CLOEXEC.
      fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_NOFOLLOW, 0o644)
    } catch (err) {
      throw pidFileOpenError(err, path, 'pidfile', 'open')
    }
    try {
      const st = fstatSync(fd)
      checkPidFileShape(st, path)
      if (!lockFile(fd)) {
        const pid = readPidFd(fd)
        throw new DaemonizeError(
          pid === null ? `already running (starting; pid file ${path} is locked)` : `already running (pid ${pid})`,
          { stage: 'pidfile', code: 'EALREADY', path, pid: pid ?? undefined },
        )
      }
      // Locked, but is it still the file at `path`? A stop or another start
      // may have unlinked or replaced it between our open and our lock.
      let now
      try {
        now = statSync(path)
      } catch {
        now = undefined
      }
      if (!now || now.ino !== st.ino || now.dev !== st.dev) {
        closeSync(fd)
        continue
      }
      const stale = st.size > 0 ? readPidFd(fd) : undefined
      ftruncateSync(fd, 0)
      return { fd, path, reclaimed: stale === undefined ? undefined : { pid: stale } }
    } catch (err) {
      closeSync(fd)
      if (err instanceof DaemonizeError) throw err
      throw stageError('pidfile', 'cannot lock pid file', err, path)
    }
  }
  throw new DaemonizeError(`pid file ${path} keeps being replaced; giving up`, { stage: 'pidfile', code: 'EAGAIN', path })
}

/** How long a start waits for a concurrent start's daemon to write its pid, to name it in the refusal. */
export const STARTING_WAIT_MS = 3000

/**
 * acquirePidFile() for a start that can wait a moment: when the lock is held
 * but the file is still empty (another start is between its lock and its
 * daemon's pid write, a few milliseconds), poll through the event loop until
 * the pid appears, so the refusal names it, or the lock comes free (that
 * start failed: this one goes ahead).
 */
export async function acquirePidFileWhenSettled(path: string, waitMs = STARTING_WAIT_MS): Promise<AcquiredPidFile> {
  const end = Date.now() + waitMs
  for (;;) {
    try {
      return acquirePidFile(path)
    } catch (err) {
      const starting = err instanceof DaemonizeError && err.code === 'EALREADY' && err.pid === undefined
      if (!starting || Date.now() >= end) throw err
    }
    await delay(5)
  }
}
