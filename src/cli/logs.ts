// `node-daemonize logs NAME [-n 50] [-f]`: the named daemon's last log
// lines, and with -f the lines to come, across rotation. On a terminal the
// JSON lines are shown readable and control characters escaped; into a
// pipe or file the bytes pass unchanged.
import { isatty } from 'node:tty'
import { DaemonizeError } from '../errors.js'
import { formatLogLine, terminalHasColour } from '../log-view.js'
import { followLog, lastLines, openLogForReading } from '../logs.js'
import { findSpec, noSuchName } from '../spec.js'
import { EXIT_OK, parseCommandLine, parsePositiveInt, printBytes, printErr, printOut, stdoutGone, UsageError } from './args.js'
import { nameArg } from './target.js'

export const usage = `Usage: node-daemonize logs NAME [-n 50] [-f]

Print the last lines of the log of the daemon named NAME (started with
--name; its saved spec names its log file). With -f, keep printing what is
written to it, also across a rotation: when the log is renamed and the
daemon reopens its path (reload), the rest of the old file is printed, then
the new file from its start (as tail -F does). Ctrl-C ends it.

On a terminal, the JSON lines of the launcher, the supervisor and logger()
are shown as time, level and message (in colour when the terminal has it;
NO_COLOR turns colour off), and control characters from the log are shown
as \\xNN. Into a pipe or a file the bytes pass unchanged.

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

  const out = isatty(1) ? readable(terminalHasColour()) : { write: printBytes, end: () => {} }
  const log = openLogForReading(path)
  if (log === undefined && !values.follow) {
    throw new DaemonizeError(`log file ${path} of ${name} does not exist (yet)`, { stage: 'log', code: 'ENOENT', path })
  }
  let offset = 0
  if (log !== undefined) {
    const last = lastLines(log.fd, lines)
    out.write(last.bytes)
    offset = last.end
  }
  if (!values.follow) {
    if (log !== undefined) {
      const { closeSync } = await import('node:fs')
      closeSync(log.fd)
    }
    out.end()
    return EXIT_OK
  }
  const ac = new AbortController()
  const end = () => ac.abort()
  process.once('SIGINT', end)
  process.once('SIGTERM', end)
  try {
    await followLog(path, log === undefined ? undefined : { log, offset }, out.write, ac.signal, {
      note: (m) => printErr(`node-daemonize logs: ${m}`),
      stopped: stdoutGone,
    })
  } finally {
    process.off('SIGINT', end)
    process.off('SIGTERM', end)
  }
  out.end()
  return EXIT_OK
}

/** For a terminal: whole lines, each made readable; a line still being written waits for its newline. */
function readable(colour: boolean): { write(bytes: Buffer): void; end(): void } {
  let pending: Buffer = Buffer.alloc(0)
  return {
    write(bytes: Buffer) {
      const all = pending.length > 0 ? Buffer.concat([pending, bytes]) : bytes
      const last = all.lastIndexOf(0x0a)
      if (last === -1) {
        pending = all
        return
      }
      pending = Buffer.from(all.subarray(last + 1))
      const text = all.subarray(0, last).toString('utf8')
      printOut(text.split('\n').map((l) => formatLogLine(l, colour)).join('\n'))
    },
    end() {
      if (pending.length > 0) printOut(formatLogLine(pending.toString('utf8'), colour))
      pending = Buffer.alloc(0)
    },
  }
}
