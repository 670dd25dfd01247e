// Following a daemon's log across rotation (a rename, then the daemon
// reopens the path: the follower reads the old file to its end, then the
// new one from its start, as tail -F), each file opened as read.ts opens
// it. Reached through logFollow() (follow-part.ts): `logs` without
// --follow never compiles it.
import { closeSync, fstatSync, lstatSync, readSync } from 'node:fs'
import { CHUNK, type OpenLog, openLogForReading } from './read.js'

/** What -f reads in one go before it lets the event loop run (a signal, a check of stdout). */
const FOLLOW_ROUND = 1024 * 1024

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
