// The daemon's stdout and stderr: the log file opened for a launch (or
// /dev/null without one), with the checks root needs where another user can
// write: no symbolic link followed, a regular file with one link, a FIFO
// unable to block the launch, and only a file this launch made given to
// the daemon's user.
import { closeSync, constants as fsc, fchownSync, fstatSync, openSync } from 'node:fs'
import { DaemonizeError, stageError } from '../errors.js'
import { checkFileShape } from '../files/checks.js'
import { native } from '../native.js'
import type { Launch } from '../options/resolve.js'
import { NULL_DEVICE } from '../options/daemonize-options.js'
import type { Credentials } from '../options/user.js'

/**
 * The same file, opened again without O_NONBLOCK (the daemon's stdout should
 * carry only O_APPEND). Through /proc/self/fd, so no path lookup can swap it;
 * without /proc the fd is kept: O_NONBLOCK means nothing for a regular file.
 */
function withoutNonblock(fd: number): number {
  let clean: number
  try {
    clean = openSync(`/proc/self/fd/${fd}`, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_NOCTTY)
  } catch {
    return fd
  }
  closeSync(fd)
  return clean
}

/** A log file to open by one name inside a directory fd (a service user's directory: files/state-dirs.ts openServiceDir). */
export interface LogAt {
  dirfd: number
  name: string
}

/**
 * Open the log for appending: O_NOFOLLOW, a regular file with one link.
 * A file this launch creates (O_EXCL) is chowned to the daemon's user, so it
 * can reopen it after rotation; an existing one never is. With `at`, by
 * openat in that directory fd, never by the path: its owner decides what
 * the path names.
 */
function openLog(path: string, credentials?: Credentials, at?: LogAt): { fd: number; created: boolean } {
  // libuv adds O_CLOEXEC to every open; openAt adds O_NOFOLLOW, O_NOCTTY and O_CLOEXEC.
  const base = fsc.O_WRONLY | fsc.O_APPEND | fsc.O_NOFOLLOW | fsc.O_NOCTTY
  const open = (flags: number, mode?: number): number =>
    at === undefined ? openSync(path, flags, mode) : native().openAt(at.dirfd, at.name, flags, mode ?? 0, path)
  let fd: number
  let created = true
  try {
    try {
      fd = open(base | fsc.O_CREAT | fsc.O_EXCL, 0o640)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      created = false
      // O_NONBLOCK: a FIFO planted at the path must not block the launch
      // (ENXIO without a reader; with one, fstat below refuses it).
      fd = open(base | fsc.O_NONBLOCK)
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why =
      code === 'ELOOP' ? 'log file is a symbolic link' : code === 'ENXIO' ? 'log file is not a regular file' : 'cannot open log file'
    throw stageError('log', why, err, path)
  }
  try {
    checkFileShape(fstatSync(fd), path, 'log', 'log file')
    if (created && credentials) fchownSync(fd, credentials.uid, credentials.gid)
    if (!created) fd = withoutNonblock(fd)
  } catch (err) {
    closeSync(fd)
    throw err instanceof DaemonizeError ? err : stageError('log', 'cannot prepare log file', err, path)
  }
  return { fd, created }
}

/**
 * The daemon's stdout/stderr: the log file, or /dev/null without one. Opened
 * after the pid file is locked, so a refused start creates no log file.
 * `at`: the log is that name in that directory fd (a service user's own
 * directory), opened there and nowhere else.
 */
export function openLaunchLog(launch: Launch, at?: LogAt): { fd: number; created: boolean } {
  if (launch.logFile !== undefined) return openLog(launch.logFile, launch.credentials, at)
  try {
    return { fd: openSync(NULL_DEVICE, fsc.O_WRONLY), created: false }
  } catch (err) {
    // EMFILE/ENFILE, or a system without /dev/null.
    throw stageError('stdio', `cannot open ${NULL_DEVICE} for the daemon's stdout and stderr`, err, NULL_DEVICE)
  }
}
