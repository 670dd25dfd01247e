// Shared command-line parsing: parse-options.ts (util.parseArgs' strict
// rules) plus the value formats every command uses. Every bad input becomes
// a UsageError, which the dispatcher turns into one line on stderr and exit
// code 2.
import { writeSync } from 'node:fs'
import { OptionError, parseOptions, type OptionSpecs } from './parse-options.js'
import { durationProblem } from '../duration.js'

/**
 * Exit codes of every command except `status` (which follows LSB's status
 * codes, where 3 means "not running"). Which failure gets which is decided
 * in one place: report.ts exitStatusOf().
 */
export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2
/**
 * restart --graceful (and a plain restart NAME that is one): the wait ended
 * before the supervisor's verdict. The restart goes on and may still
 * complete; `status` shows its outcome. Not LSB's 3 for `status` ("not
 * running"), nor LSB's 3 for other init-script actions ("unimplemented
 * feature"), which this tool never means.
 */
export const EXIT_PENDING = 3

/** Invalid arguments: exit 2 (LSB's "invalid or excess arguments"). */
export class UsageError extends Error {
  override readonly name = 'UsageError'
  readonly code = 'ERR_USAGE'
}

/** A duration: a bare number is seconds; or a number with a unit ms, s or m. */
const DURATION = /^(\d*)(?:\.(\d*))?(ms|s|m)?$/
const UNIT_MS = { ms: 1n, s: 1000n, m: 60_000n } as const
export { MAX_DURATION_MS } from '../duration.js'

/**
 * Parse a CLI duration into whole milliseconds: `5` (seconds), `500ms`,
 * `1.5s`, `2m`. Computed exactly from the decimal text (2.007 is 2007 ms,
 * not the 2008 that 2.007 * 1000 in floating point rounds up to). A fraction
 * of a millisecond above 1 ms rounds up; a positive duration under 1 ms is
 * refused by the rule every duration follows (duration.ts), as the API
 * refuses it.
 */
export function parseDuration(flag: string, text: string): number {
  const m = DURATION.exec(text.trim())
  if (!m || (m[1] === '' && (m[2] ?? '') === '')) {
    throw new UsageError(`${flag} takes a duration like 5, 500ms, 1.5s or 2m (seconds when no unit is given), got '${text}'`)
  }
  const frac = m[2] ?? ''
  const scale = 10n ** BigInt(frac.length)
  const exact = BigInt(`${m[1]}${frac}` || '0') * UNIT_MS[(m[3] ?? 's') as keyof typeof UNIT_MS]
  const ms = (exact + scale - 1n) / scale
  // The rule sees the exact value when it is under 1 ms, the rounded one otherwise.
  const problem = durationProblem(exact > 0n && exact < scale ? Number(exact) / Number(scale) : Number(ms), {}, text)
  if (problem !== undefined) throw new UsageError(`${flag} ${problem}`)
  return Number(ms)
}

/** A umask as an octal string: `027`, `0027`, `22`, `0o027`. */
export function parseUmask(flag: string, text: string): number {
  const m = /^(?:0o)?([0-7]{1,4})$/i.exec(text.trim())
  const value = m ? parseInt(m[1], 8) : NaN
  if (!m || value > 0o777) throw new UsageError(`${flag} takes an octal mode from 000 to 777, like 022 or 027, got '${text}'`)
  return value
}

/** A positive whole number, e.g. --max-open-files 4096. */
export function parsePositiveInt(flag: string, text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${flag} takes a positive whole number, got '${text}'`)
  }
  return Number(text)
}

/** `--env K=V`: the key is everything before the first '='; the value may hold more. */
export function parseEnvPair(flag: string, text: string): [string, string] {
  const i = text.indexOf('=')
  if (i <= 0) throw new UsageError(`${flag} takes NAME=VALUE, got '${text}'`)
  if (text.includes('\0')) throw new UsageError(`${flag} must not contain a NUL byte`)
  return [text.slice(0, i), text.slice(i + 1)]
}

export interface ParsedCommandLine<V> {
  values: V
  /** Positionals before `--`. */
  positionals: string[]
  /** Everything after the first `--`, verbatim. */
  rest: string[]
  /** Where each option was found: index into args, and whether its value was inline (--opt=value). */
  options: { name: string; index: number; inlineValue: boolean }[]
}

/** Options in util.parseArgs' form. */
export type ParseOptions = OptionSpecs

/** What stop and reload take besides their own options: the daemon's pid file and how to print. */
export interface PidFileCommandValues {
  'pid-file'?: string
  json?: boolean
  quiet?: boolean
}

export const pidFileCommandOptions = {
  'pid-file': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
} satisfies ParseOptions

/**
 * The options, strictly (parse-options.ts: as util.parseArgs in strict
 * mode), every error a UsageError, and the arguments after `--` kept apart
 * from the positionals before it.
 */
export function parseCommandLine<V>(args: string[], options: ParseOptions): ParsedCommandLine<V> {
  const dashes = args.indexOf('--')
  const own = dashes === -1 ? args : args.slice(0, dashes)
  const rest = dashes === -1 ? [] : args.slice(dashes + 1)
  try {
    const { values, positionals, options: found } = parseOptions(own, options)
    return { values: values as V, positionals, rest, options: found.map(({ name, index, inlineValue }) => ({ name, index, inlineValue })) }
  } catch (err) {
    if (err instanceof OptionError) throw new UsageError(err.message)
    throw err
  }
}

/** A word for a shell command line: single-quoted unless it is plain. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`
}

/** `node-daemonize <command>`, or just `node-daemonize` without one: how every error line starts. */
export function who(command: string | undefined): string {
  return command ? `node-daemonize ${command}` : 'node-daemonize'
}

/** The one usage-error text: what is wrong, then where help is. */
export function formatUsageError(command: string | undefined, message: string): string {
  return `${who(command)}: ${message}\nTry '${who(command)} --help' for more information.\n`
}

/** Does the command line (before `--`) ask for a JSON result? Read before parsing, so a usage error gets one too. */
export function wantsJson(args: string[]): boolean {
  for (const a of args) {
    if (a === '--') return false
    if (a === '--json') return true
  }
  return false
}

/** Does the command line (before `--`) ask for help? */
export function wantsHelp(args: string[]): boolean {
  for (const a of args) {
    if (a === '--') return false
    if (a === '--help' || a === '-h') return true
  }
  return false
}

/**
 * Write to fd 1 or 2 directly: creating process.stdout/stderr loads Node's
 * stream machinery, a few milliseconds the CLI's start-up does not need.
 * A non-blocking pipe that is full (EAGAIN) gets the rest through the stream.
 *
 * Output that cannot be written never changes what the command did, nor its
 * exit status (a started daemon is still started): a reader that has gone
 * away (EPIPE: `node-daemonize --help | head -0`) or a closed fd ends the
 * output quietly; any other failure on stdout is said once on stderr.
 */
function writeAll(fd: 1 | 2, text: string): void {
  writeBytes(fd, Buffer.from(text.endsWith('\n') ? text : text + '\n'))
}

function writeBytes(fd: 1 | 2, buf: Buffer): void {
  // Behind bytes the stream still holds: after them, in order.
  if (streamed[fd] && streamOf(fd).writableLength > 0) return writeThroughStream(fd, buf)
  while (buf.length > 0) {
    try {
      buf = buf.subarray(writeSync(fd, buf))
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      if (e.code === 'EAGAIN') {
        writeThroughStream(fd, buf)
      } else if (fd === 1 && (e.code === 'EPIPE' || e.code === 'EBADF')) {
        stdoutClosed = true
      } else if (fd === 1 && !stdoutFailed) {
        stdoutFailed = true
        writeAll(2, `node-daemonize: cannot write to stdout: ${e.message}`)
      }
      return
    }
  }
}

let stdoutFailed = false
let stdoutClosed = false
/** Whether fd's stream was ever used (touching process.stdout loads Node's streams). */
const streamed = { 1: false, 2: false }

/** Whether any output went through process.stdout/stderr (which may still hold some of it). */
export function outputThroughStreams(): boolean {
  return streamed[1] || streamed[2]
}

function streamOf(fd: 1 | 2): NodeJS.WriteStream {
  return fd === 1 ? process.stdout : process.stderr
}

function writeThroughStream(fd: 1 | 2, buf: Buffer): void {
  streamed[fd] = true
  const stream = streamOf(fd)
  // The stream reports a later EPIPE as an 'error' event: without a
  // listener that is an uncaught exception, with a stack trace.
  if (stream.listenerCount('error') === 0) stream.on('error', () => {})
  stream.write(buf)
}

/** What stdout may hold unwritten (a full non-blocking pipe) before a long writer waits for it. */
const STDOUT_BACKLOG = 1024 * 1024

/**
 * For a command that writes for long (logs -f): undefined while stdout
 * takes what it is given; else a promise that resolves once the bytes it
 * holds have gone out (or stdout is gone, or `signal` aborts), so that what
 * cannot be written is not read meanwhile: memory stays bounded however
 * much the log grows behind a reader that does not read.
 */
export function stdoutDrained(signal: AbortSignal): Promise<void> | undefined {
  if (!streamed[1] || process.stdout.writableLength < STDOUT_BACKLOG) return undefined
  const stream = process.stdout
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done).off('error', done).off('close', done)
      signal.removeEventListener('abort', done)
      resolve()
    }
    stream.once('drain', done).once('error', done).once('close', done)
    signal.addEventListener('abort', done)
  })
}

/**
 * A command that was told to end (SIGINT, SIGTERM) and still has bytes
 * that stdout cannot take (a reader that stopped reading): exit now with
 * `code` rather than wait for ever to write them, which would keep the
 * process alive past the signal.
 */
export function exitIfStdoutStuck(code: number): void {
  if (streamed[1] && process.stdout.writableLength > 0) process.exit(code)
}

/** A command's result: as JSON with --json, else its message unless --quiet. */
export function printResult(result: { message: string }, options: { json?: boolean; quiet?: boolean }): void {
  if (options.json) printOut(JSON.stringify(result))
  else if (!options.quiet) printOut(result.message)
}

/** One or more lines on stdout (a final newline is added when missing). */
export function printOut(text: string): void {
  writeAll(1, text)
}

/** These bytes on stdout, exactly (no newline added). */
export function printBytes(buf: Buffer): void {
  writeBytes(1, buf)
}

/** Has a write to stdout failed for good (EPIPE, a closed fd, ...)? A command that writes for long (logs -f) stops then. */
export function stdoutGone(): boolean {
  return stdoutFailed || stdoutClosed
}

/** One or more lines on stderr (a final newline is added when missing). */
export function printErr(text: string): void {
  writeAll(2, text)
}
