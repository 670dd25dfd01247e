// Reading a daemon's log: its last lines, and following it across
// rotation (a rename, then the daemon reopens the path: the follower reads
// the old file to its end, then the new one from its start, as tail -F).
//
// Run as root, the log may sit in a directory the service user owns, so
// the path is hostile: its directory is reached through fds and checked
// (dirwalk.ts), the file opened by openat from that fd,
// O_RDONLY|O_NOFOLLOW|O_NONBLOCK (no symlink followed, a FIFO planted there
// cannot hang us), and only a regular file with one link is read (a hard
// link could show root any file).
import { closeSync, fstatSync, lstatSync, readSync } from 'node:fs'
import { DaemonizeError, stageError } from './errors.js'
import { openUntrustedIn } from './dirwalk.js'
import { checkFileShape } from './filecheck.js'

/** The reads' size. */
const CHUNK = 64 * 1024

export interface OpenLog {
  fd: number
  dev: number
  ino: number
}

/** Open a log for reading, safely (see above); undefined when it does not exist (yet). */
export function openLogForReading(path: string): OpenLog | undefined {
  const fd = openUntrustedIn(path, 'log', 'log file')
  if (fd === undefined) return undefined
  try {
    const st = fstatSync(fd)
    checkFileShape(st, path, 'log', 'log file')
    return { fd, dev: st.dev, ino: st.ino }
  } catch (err) {
    closeSync(fd)
    throw err instanceof DaemonizeError ? err : stageError('log', `cannot read log file ${path}`, err, path)
  }
}

/**
 * The bytes of the last `lines` lines of fd (a regular file), and the size
 * they end at. Read backwards a chunk at a time, only as far as needed.
 * A last line without its newline counts as a line.
 */
export function lastLines(fd: number, lines: number): { bytes: Buffer; end: number } {
  const end = fstatSync(fd).size
  if (lines <= 0 || end === 0) return { bytes: Buffer.alloc(0), end }
  const chunks: Buffer[] = []
  let pos = end
  let newlines = 0
  // A final newline ends the last line; it does not start another.
  let skipLast = true
  while (pos > 0) {
    const size = Math.min(CHUNK, pos)
    pos -= size
    const buf = Buffer.alloc(size)
    let got = 0
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, pos + got)
      if (n === 0) break
      got += n
    }
    chunks.unshift(buf.subarray(0, got))
    for (let i = got - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) continue
      if (skipLast && pos + i === end - 1) continue
      if (++newlines === lines) {
        const all = Buffer.concat(chunks)
        return { bytes: all.subarray(i + 1), end }
      }
    }
    skipLast = false
  }
  return { bytes: Buffer.concat(chunks), end }
}

/** Read what fd holds from `offset` on, a chunk at a time, to its current end; returns the new offset. */
export function readFrom(fd: number, offset: number, emit: (bytes: Buffer) => void): number {
  const buf = Buffer.alloc(CHUNK)
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, offset)
    if (n === 0) return offset
    offset += n
    emit(Buffer.from(buf.subarray(0, n)))
  }
}

export interface FollowOptions {
  /** How often the file and its path are looked at. */
  intervalMs?: number
  /** Said on stderr: the file was replaced, or truncated. */
  note?: (message: string) => void
  /** Stop following when this says so (output gone). */
  stopped?: () => boolean
}

/**
 * Follow `path` from `start` (an open log and the offset read so far):
 * new bytes as they are written; when the path names another file (renamed
 * away, recreated), the old one is read to its end and the new one from its
 * start; a file cut short (copytruncate) is read again from its start.
 * Resolves when `signal` aborts or `stopped()` says so.
 */
export async function followLog(
  path: string,
  start: { log: OpenLog; offset: number } | undefined,
  emit: (bytes: Buffer) => void,
  signal: AbortSignal,
  { intervalMs = 200, note = () => {}, stopped = () => false }: FollowOptions = {},
): Promise<void> {
  let log = start?.log
  let offset = start?.offset ?? 0
  try {
    while (!signal.aborted && !stopped()) {
      if (log !== undefined) {
        if (fstatSync(log.fd).size < offset) {
          note(`${path}: file truncated`)
          offset = 0
        }
        offset = readFrom(log.fd, offset, emit)
      }
      const now = pathIdentity(path)
      if (now !== undefined && (log === undefined || now.dev !== log.dev || now.ino !== log.ino)) {
        const next = openLogForReading(path)
        if (next !== undefined) {
          if (log !== undefined) {
            // Whatever reached the old file before the daemon reopened the path.
            readFrom(log.fd, offset, emit)
            closeSync(log.fd)
            note(`${path}: has been replaced; following the new file`)
          }
          log = next
          offset = 0
          continue
        }
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(t)
          signal.removeEventListener('abort', wake)
          resolve()
        }
        const t = setTimeout(wake, intervalMs)
        signal.addEventListener('abort', wake)
      })
    }
  } finally {
    if (log !== undefined) closeSync(log.fd)
  }
}

/** What the path names now, itself (a symlink put there differs, and openLogForReading refuses it). */
function pathIdentity(path: string): { dev: number; ino: number } | undefined {
  try {
    const st = lstatSync(path, { throwIfNoEntry: false })
    return st === undefined ? undefined : { dev: st.dev, ino: st.ino }
  } catch {
    return undefined
  }
}
