// The last lines of a daemon's log, for an error about a daemon that died
// (a launch's, a graceful restart's new generation): read through an fd
// that already names the log, never by its path, bounded, and escaped for
// a terminal.
import { closeSync, constants as fsc, fstatSync, openSync, readSync } from 'node:fs'
import { escapeControls } from '../escape.js'

const TAIL_LINES = 20
/** At most this much of the log is read, from its end: the tail costs the same at any log size. */
export const TAIL_WINDOW = 64 * 1024

/**
 * The last lines of the log, for an error about a daemon that died, read
 * through the log fd the launch opened (`logFd`, write-only) and never by
 * path: the service user may own the log's directory, and a daemon that
 * crashes can first put a symbolic link to a root-only file or a FIFO where
 * its log was. /proc/self/fd/N re-opens the very file that fd has open (the
 * link is not looked up by name), read-only; it must be the same regular
 * file, and only the last TAIL_WINDOW bytes are read, with pread.
 */
export function logTail(logFd: number | undefined, lines = TAIL_LINES): string | undefined {
  if (logFd === undefined || logFd < 0) return undefined
  let fd: number
  try {
    fd = openSync(`/proc/self/fd/${logFd}`, fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY)
  } catch {
    return undefined // no /proc, or no fd left: the error goes without its tail
  }
  try {
    const opened = fstatSync(logFd)
    const st = fstatSync(fd)
    if (!st.isFile() || st.dev !== opened.dev || st.ino !== opened.ino) return undefined
    const want = Math.min(st.size, TAIL_WINDOW)
    const from = st.size - want
    const buf = Buffer.alloc(want)
    let got = 0
    while (got < want) {
      const n = readSync(fd, buf, got, want - got, from + got)
      if (n === 0) break // truncated meanwhile
      got += n
    }
    return linesAtEnd(buf.subarray(0, got), from > 0, lines)
  } catch {
    return undefined
  } finally {
    closeSync(fd)
  }
}

/** The last `count` lines of `buf`; when it starts mid-file, its first (partial) line is dropped. */
function linesAtEnd(buf: Buffer, startsMidFile: boolean, count: number): string | undefined {
  let text = buf
  if (startsMidFile) {
    const nl = buf.indexOf(0x0a)
    // One line longer than the window: show its end rather than nothing.
    if (nl !== -1 && nl < buf.length - 1) text = buf.subarray(nl + 1)
  }
  const all = text.toString('utf8').split('\n')
  if (all[all.length - 1] === '') all.pop()
  // Each line escaped: the service user wrote these bytes, and a terminal
  // would obey its control sequences (erase the real error, print a fake line).
  // Escaping can lengthen it (up to 6x): keep the bound on what is shown.
  const tail = all.slice(-count).map(escapeControls).join('\n').slice(-TAIL_WINDOW)
  return tail === '' ? undefined : tail
}
