// How every command fails: one printer and one JSON shape, so that start,
// stop, status, restart, reload and the dispatcher's own usage errors all
// read the same.
//
//   stderr:          node-daemonize <command>: <message>
//                    (a usage error adds: Try 'node-daemonize <command> --help' ...)
//   stdout, --json:  {"ok":false,"command":"<command>","error":{"message","stage","code",
//                     "errno"?,"syscall"?,"path"?,"pid"?,"exitCode"?,"signal"?,"logTail"?}}
//
// The error fields are a DaemonizeError's (Node's SystemError fields plus
// the stage); a usage error is stage "options", code "ERR_USAGE"; an error
// that is neither (a bug) has stage null.
import type { DaemonizeErrorFields, Stage } from '../errors.js'
import { EXIT_FAILURE, EXIT_USAGE, formatUsageError, printErr, printOut, who } from './args.js'

/** The fields a failure shows a script: a DaemonizeError's, but its cause. */
type ErrorFields = Omit<DaemonizeErrorFields, 'cause' | 'stage'>

export interface JsonErrorResult {
  ok: false
  /** The command that failed; null when there was none (`node-daemonize --bogus`). */
  command: string | null
  error: ErrorFields & { message: string; stage: Stage | null }
}

const OPTIONAL = ['errno', 'syscall', 'path', 'pid', 'exitCode', 'signal', 'logTail'] as const satisfies (keyof ErrorFields)[]

/**
 * The JSON result of a failure. Reads the fields rather than testing the
 * class: a DaemonizeError and a UsageError are told apart by their fields.
 */
export function errorResult(command: string | undefined, err: unknown): JsonErrorResult {
  const e = (err !== null && typeof err === 'object' ? err : {}) as Record<string, unknown>
  const message = err instanceof Error ? err.message : String(err)
  const usage = e.code === 'ERR_USAGE'
  const error: JsonErrorResult['error'] = {
    message,
    stage: usage ? 'options' : typeof e.stage === 'string' ? (e.stage as Stage) : null,
    code: typeof e.code === 'string' ? e.code : 'ERR_UNKNOWN',
  }
  for (const k of OPTIONAL) if (e[k] !== undefined) (error as Record<string, unknown>)[k] = e[k]
  return { ok: false, command: command ?? null, error }
}

/** A failure, said once on stderr (and as JSON on stdout with --json); exit 1. */
export function reportError(command: string | undefined, err: unknown, json: boolean): number {
  const result = errorResult(command, err)
  printErr(`${who(command)}: ${result.error.message}`)
  if (json) printOut(JSON.stringify(result))
  return EXIT_FAILURE
}

/** A usage error: what is wrong, then where help is (and JSON with --json); exit 2. */
export function reportUsageError(command: string | undefined, err: unknown, json: boolean): number {
  const result = errorResult(command, err)
  printErr(formatUsageError(command, result.error.message))
  if (json) printOut(JSON.stringify(result))
  return EXIT_USAGE
}
