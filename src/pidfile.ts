// Pid files guarded by an OFD lock. The launcher takes the lock before the
// helper is spawned; the daemon inherits the same open file (fd 3) and holds
// the lock for life, so "lock held" is exactly "daemon alive".
import { closeSync, constants as fsc, fstatSync, ftruncateSync, openSync, readFileSync, statSync } from 'node:fs'
import { DaemonizeError, stageError } from './errors.js'
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
export function checkPidFileShape(st: { isFile(): boolean; nlink: number }, path: string): void {
  if (!st.isFile()) {
    throw new DaemonizeError(`pid file ${path} is not a regular file`, { stage: 'pidfile', code: 'EINVAL', path })
  }
  if (st.nlink !== 1) {
    throw new DaemonizeError(`pid file ${path} has ${st.nlink} links; refusing a hard-linked pid file`, {
      stage: 'pidfile',
      code: 'EMLINK',
      path,
    })
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
      const code = (err as NodeJS.ErrnoException).code
      const why = code === 'ELOOP' ? 'cannot open pid file (it is a symbolic link)' : 'cannot open pid file'
      throw stageError('pidfile', why, err, path)
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
