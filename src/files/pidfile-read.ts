// Reading a pid file: its name's lock file, its content (bounded: a pid is
// a few bytes), and what a failed open of it means, said for a person.
import { readSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import { DaemonizeError, stageError, type Stage } from '../errors.js'

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
  return pidContentOf(buf.subarray(0, got))
}

/** What the first bytes of a pid file (at most MAX_PID_FILE_BYTES + 1 of them) are. */
export function pidContentOf(bytes: Buffer): PidContent {
  const got = bytes.length
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
export function readPidFd(fd: number): number | null {
  try {
    const c = readPidContent(fd)
    return c.kind === 'pid' ? c.pid : null
  } catch {
    return null
  }
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

export function directoryExists(dir: string): boolean {
  try {
    return statSync(dir, { throwIfNoEntry: false })?.isDirectory() ?? false
  } catch {
    return false
  }
}
