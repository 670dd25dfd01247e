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
import { DaemonizeError, stageError } from '../errors.js'
import { openUntrustedIn } from '../files/dirwalk.js'
import { checkFileShape } from '../files/checks.js'

/** The reads' size. */
const CHUNK = 64 * 1024

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
/** What -f reads in one go before it lets the event loop run (a signal, a check of stdout). */
const FOLLOW_ROUND = 1024 * 1024

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

/** Read what fd holds from `offset` on, a chunk at a time, to its current end or `max` bytes; returns the new offset. */
export function readFrom(fd: number, offset: number, emit: (bytes: Buffer) => void, max = Infinity): number {
  const buf = Buffer.alloc(CHUNK)
  for (let left = max; left > 0; ) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, left), offset)
    if (n === 0) break
    offset += n
    left -= n
    emit(Buffer.from(buf.subarray(0, n)))
  }
  return offset
}

export interface FollowOptions {
  /** How often the file and its path are looked at. */
  intervalMs?: number
  /** Said on stderr: the file was replaced, or truncated. */
  note?: (message: string) => void
  /** Stop following when this says so (output gone). */
  stopped?: () => boolean
  /** The service's user: see openLogForReading. */
  owner?: number
  /** After bytes were emitted: a promise while the output cannot take more (see stdoutDrained). */
  drained?: () => Promise<void> | undefined
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
  { intervalMs = 200, note = () => {}, stopped = () => false, owner, drained = () => undefined }: FollowOptions = {},
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
        const before = offset
        offset = readFrom(log.fd, offset, emit, FOLLOW_ROUND)
        // Nothing more is read while the output holds what it could not write.
        const full = offset > before ? drained() : undefined
        if (full !== undefined) await full
        // A writer that keeps up: a turn of the event loop before the next
        // round, so Ctrl-C and a gone stdout are seen (reading never blocks them).
        if (offset - before === FOLLOW_ROUND) {
          if (full === undefined) await new Promise((resolve) => setImmediate(resolve))
          continue
        }
      }
      const now = pathIdentity(path)
      if (now !== undefined && (log === undefined || now.dev !== log.dev || now.ino !== log.ino)) {
        const next = openLogForReading(path, owner)
        if (next !== undefined) {
          if (log !== undefined) {
            // Whatever reached the old file before the daemon reopened the
            // path: up to its size now, in rounds as above.
            const oldEnd = fstatSync(log.fd).size
            while (offset < oldEnd && !signal.aborted && !stopped()) {
              const before = offset
              offset = readFrom(log.fd, offset, emit, Math.min(FOLLOW_ROUND, oldEnd - offset))
              if (offset === before) break
              await (drained() ?? new Promise((resolve) => setImmediate(resolve)))
            }
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
