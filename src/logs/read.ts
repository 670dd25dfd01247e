// Reading a daemon's log: its last lines (following it across rotation is
// follow.ts).
//
// Run as root, the log may sit in a directory the service user owns, so
// the path is hostile: its directory is reached through fds and checked
// (dirwalk.ts), the file opened by openat from that fd,
// O_RDONLY|O_NOFOLLOW|O_NONBLOCK (no symlink followed, a FIFO planted there
// cannot hang us), and only a regular file with one link is read (a hard
// link could show root any file).
import { closeSync, fstatSync, readSync } from 'node:fs'
import { DaemonizeError, stageError } from '../errors.js'
import { openUntrustedIn } from '../files/dirwalk.js'
import { checkFileShape } from '../files/checks.js'

/** The reads' size. */
export const CHUNK = 64 * 1024

export interface OpenLog {
  fd: number
  dev: number
  ino: number
}

/**
 * Open a log for reading, safely (see above); undefined when it does not
 * exist (yet). `owner`: the service's user, the only one besides root and
 * the caller its directory may belong to (unset: any one user that alone
 * can write it).
 */
export function openLogForReading(path: string, owner?: number): OpenLog | undefined {
  const fd = openUntrustedIn(path, 'log', 'log file', owner)
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

/** What is read of a log from its end, at most, however many lines are asked for and however long they are. */
export const LOG_WINDOW = 1024 * 1024

export interface LastLines {
  /** The bytes to show: at most LOG_WINDOW of them. */
  bytes: Buffer
  /** The file's size when it was read: where following goes on from. */
  end: number
  /** Fewer lines than asked for: the window ends before the file's start. */
  fewer: boolean
  /** The first line shown starts before the window (at least one byte of it is not read): it is shown cut at its start. */
  cut: boolean
}

/**
 * The bytes of the last `lines` lines of fd (a regular file), and the size
 * they end at. Read backwards a chunk at a time, only as far as needed and
 * never further than LOG_WINDOW from the end, whatever the file holds (the
 * service user can make it 1 GiB of one line with truncate). When the
 * window runs out first, the lines in it are shown whole (the part of a line
 * at its start is left out), or, when it holds one line only, that line's
 * last LOG_WINDOW bytes (`cut`). A last line without its newline counts as a
 * line.
 */
export function readLastLines(fd: number, lines: number, window = LOG_WINDOW): LastLines {
  const end = fstatSync(fd).size
  if (lines <= 0 || end === 0) return { bytes: Buffer.alloc(0), end, fewer: false, cut: false }
  // One byte before the window too: whether a line starts right at it.
  const size = Math.min(end, window + 1)
  const from = end - size
  const buf = Buffer.alloc(size)
  let newlines = 0
  let first = -1
  for (let chunkEnd = size; chunkEnd > 0; ) {
    const chunkStart = Math.max(0, chunkEnd - CHUNK)
    readFully(fd, buf, chunkStart, chunkEnd, from)
    for (let i = chunkEnd - 1; i >= chunkStart; i--) {
      if (buf[i] !== 0x0a) continue
      // A final newline ends the last line; it does not start another.
      if (from + i === end - 1) continue
      first = i
      if (++newlines === lines) return { bytes: buf.subarray(i + 1), end, fewer: false, cut: false }
    }
    chunkEnd = chunkStart
  }
  if (from === 0) return { bytes: buf, end, fewer: false, cut: false }
  if (first !== -1) return { bytes: buf.subarray(first + 1), end, fewer: true, cut: false }
  return { bytes: buf.subarray(1), end, fewer: true, cut: true }
}

/** pread buf[start, stop) from the file at offset base + start; a file cut short meanwhile leaves the rest as zeros. */
function readFully(fd: number, buf: Buffer, start: number, stop: number, base: number): void {
  for (let at = start; at < stop; ) {
    const n = readSync(fd, buf, at, stop - at, base + at)
    if (n === 0) return
    at += n
  }
}
