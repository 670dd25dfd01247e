// `node-daemonize logs NAME [-n 50] [-f]`: the named daemon's last log
// lines, and with -f the lines to come, across rotation. On a terminal the
// JSON lines are shown readable and control characters escaped; into a
// pipe or file the bytes pass unchanged. What is read from the end is
// bounded (LOG_WINDOW), and so is what a terminal is shown of a line.
import { closeSync } from 'node:fs'
import { DaemonizeError } from '../errors.js'
import { euid } from '../files/checks.js'
import { escapeControls } from '../escape.js'
import { native } from '../native.js'
import { logFollow } from '../logs/follow-part.js'
import { terminalView } from '../logs/terminal-part.js'
import { LOG_WINDOW, openLogForReading, readLastLines } from '../logs/read.js'
import type { DaemonizeOptions } from '../options/daemonize-options.js'
import { findSpec, noSuchName } from '../names/spec.js'
import { resolveCredentials } from '../options/user.js'
import { EXIT_OK, parseCommandLine, parsePositiveInt, exitIfStdoutStuck, printBytes, printErr, printOut, stdoutDrained, stdoutGone, UsageError } from './args.js'
import { nameArg } from './target.js'

export const usage = `Usage: node-daemonize logs NAME [-n 50] [-f]

Print the last lines of the log of the daemon named NAME (started with
--name; its saved spec names its log file). With -f, keep printing what is
written to it, also across a rotation: when the log is renamed and the
daemon reopens its path (reload), the rest of the old file is printed, then
the new file from its start (as tail -F does). Ctrl-C ends it.

Into a pipe or a file the bytes pass unchanged. On a terminal, the JSON
lines of the launcher, the supervisor and logger() are shown as time, level
and message (in colour when the terminal has it; NO_COLOR turns colour off),
and every control character from the log, in any field and in any other
line, is shown escaped: C0 (tab and newline too), DEL and C1 as \\xNN,
bidirectional controls and U+2028/U+2029 as \\uNNNN. One line of the log is
one line on the terminal, and at most its last 64 KiB are shown: a longer
line starts with "[K bytes cut]" ("≥ K" when its start was not read).

At most the last 1 MiB of the log is read, whatever -n says: when the lines
asked for do not fit, fewer are shown (stderr says so); a last line longer
than that is shown cut at its start (into a pipe: its last 1 MiB, and stderr
says it is cut).

The log is opened without following symbolic links or blocking on a FIFO,
and only a regular file with one link is read.

Options:
  -n, --lines N   how many lines to show first (default 50; 0: none)
  -f, --follow    keep following the log
  -h, --help      show this help

Exit status: 0 done (or ended by SIGINT/SIGTERM), 1 no such daemon or the
log cannot be read, 2 invalid arguments.`

interface Values {
  lines?: string
  follow?: boolean
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals, rest } = parseCommandLine<Values>(args, {
    lines: { type: 'string', short: 'n' },
    follow: { type: 'boolean', short: 'f' },
  })
  if (positionals.length === 0) throw new UsageError('which daemon? give its NAME')
  if (positionals.length > 1 || rest.length > 0) throw new UsageError(`unexpected argument '${positionals[1] ?? '--'}'`)
  const lines = values.lines === undefined ? 50 : values.lines.trim() === '0' ? 0 : parsePositiveInt('--lines', values.lines)
  const name = nameArg(positionals[0])
  const spec = findSpec(name)
  if (spec === undefined) throw noSuchName(name)
  const path = spec.options.logFile
  if (path === undefined) {
    throw new DaemonizeError(`${name} has no log file (it was started with --log-file /dev/null)`, { stage: 'log', code: 'ENOENT', path: spec.specPath })
  }

  const out: Output = native().isatty(1) ? terminalView().terminalOutput(terminalView().terminalHasColour(), printOut) : { write: printBytes, end: () => {} }
  if (values.follow !== true) return show(path, name, lines, undefined, out, serviceUid(spec.options))
  // Before anything is printed: a Ctrl-C as soon as the first lines show must end it cleanly.
  // (An AbortController only here: without --follow nothing waits, and Node loads its abort
  // machinery only when one is made.)
  const ac = new AbortController()
  const end = () => ac.abort()
  process.once('SIGINT', end)
  process.once('SIGTERM', end)
  try {
    return await show(path, name, lines, ac.signal, out, serviceUid(spec.options))
  } finally {
    process.off('SIGINT', end)
    process.off('SIGTERM', end)
  }
}

/**
 * The user the daemon runs as, as its spec records it (--user, else the
 * spec's writer, who is this caller): the only one besides root and the
 * caller whose directory the log may be read from.
 */
function serviceUid(options: DaemonizeOptions): number {
  return resolveCredentials(options.user, options.group)?.uid ?? euid()
}

/** Where the log's bytes go: a terminal's readable lines (TerminalOutput), or stdout unchanged (no startsCut). */
interface Output {
  write(bytes: Buffer): void
  end(): void
  startsCut?(): void
}

const WINDOW_TEXT = `${LOG_WINDOW / (1024 * 1024)} MiB`

/** The last lines, then (follow: its signal given) what comes, until the signal aborts or stdout is gone. */
async function show(path: string, name: string, lines: number, signal: AbortSignal | undefined, out: Output, owner: number): Promise<number> {
  const log = openLogForReading(path, owner)
  if (log === undefined && signal === undefined) {
    throw new DaemonizeError(`log file ${path} of ${name} does not exist (yet)`, { stage: 'log', code: 'ENOENT', path })
  }
  let offset = 0
  if (log !== undefined) {
    const last = readLastLines(log.fd, lines)
    if (last.cut) {
      // On a terminal the line carries its marker; into a pipe the bytes stay as they are, so stderr says it.
      if (out.startsCut) out.startsCut()
      else printErr(`node-daemonize logs: the first line shown is cut at its start: it is longer than the last ${WINDOW_TEXT} of the log, which is all that is read`)
    } else if (last.fewer) {
      const shown = countLines(last.bytes)
      printErr(`node-daemonize logs: only the last ${shown} line${shown === 1 ? ' is' : 's are'} shown: logs reads at most the last ${WINDOW_TEXT} of the log`)
    }
    out.write(last.bytes)
    offset = last.end
  }
  if (signal === undefined) {
    if (log !== undefined) closeSync(log.fd)
    out.end()
    return EXIT_OK
  }
  await logFollow().followLog(path, log === undefined ? undefined : { log, offset }, out.write, signal, {
    note: (m) => printErr(`node-daemonize logs: ${escapeControls(m)}`),
    stopped: stdoutGone,
    owner,
    drained: () => stdoutDrained(signal),
  })
  // Ended by a signal: what a stalled reader did not take is dropped.
  if (signal.aborted) exitIfStdoutStuck(EXIT_OK)
  out.end()
  return EXIT_OK
}

/** Lines in bytes that hold whole lines (a last one may lack its newline). */
function countLines(bytes: Buffer): number {
  let n = 0
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) n++
  return bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a ? n + 1 : n
}
