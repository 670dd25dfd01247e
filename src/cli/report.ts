// How every command fails: one printer and one JSON shape, so that start,
// stop, status, restart, reload and the dispatcher's own usage errors all
// read the same.
//
//   stderr:          node-daemonize <command>: <message>
//                    (a usage error adds: Try 'node-daemonize <command> --help' ...)
//   stdout, --json:  {"ok":false,"command":"<command>","error":{"message","stage","code",
//                     "errno"?,"syscall"?,"path"?,"pid"?,"exitCode"?,"signal"?,"logTail"?,
//                     "instances"? (a rolling restart that stopped: index, pid, release)}}
//
// The error fields are a DaemonizeError's (Node's SystemError fields plus
// the stage); a usage error is stage "options", code "ERR_USAGE"; an error
// that is neither (a bug) has stage null.
//
// The exit status of a failure is decided here, once, for every command
// (exitStatusOf): 2 for a usage error, whether the command line's parser
// found it (ERR_USAGE) or the API's check of the options did (stage
// "options": a unix: path too long, the same path twice, a duration under
// 1 ms, ...); 3 for a graceful restart whose wait ended before its verdict;
// 1 for every other failure (a port in use, a daemon that died, ...).
import { ERR_RESTART_PENDING, type DaemonizeErrorFields, type Stage } from '../errors.js'
import { EXIT_FAILURE, EXIT_PENDING, EXIT_USAGE, formatUsageError, printErr, printOut, who } from './args.js'

/** The fields a failure shows a script: a DaemonizeError's, but its cause. */
type ErrorFields = Omit<DaemonizeErrorFields, 'cause' | 'stage'>

export interface JsonErrorResult {
  ok: false
  /** The command that failed; null when there was none (`node-daemonize --bogus`). */
  command: string | null
  error: ErrorFields & { message: string; stage: Stage | null }
}

const OPTIONAL = ['errno', 'syscall', 'path', 'pid', 'exitCode', 'signal', 'logTail', 'instances'] as const satisfies (keyof ErrorFields)[]

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

/**
 * Is this a usage error? Read from the fields, not the class: each command
 * is bundled on its own (scripts/build.mjs), with its own copy of each class.
 */
export function isUsageError(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false
  const e = err as Record<string, unknown>
  return e.code === 'ERR_USAGE' || e.stage === 'options'
}

/** The exit status of a command that threw `err` (see the top of this file). */
export function exitStatusOf(err: unknown): number {
  if (isUsageError(err)) return EXIT_USAGE
  if (err !== null && typeof err === 'object' && (err as Record<string, unknown>).code === ERR_RESTART_PENDING) return EXIT_PENDING
  return EXIT_FAILURE
}

/** How a command that threw fails: said once, the usage error's way or the failure's, with its exit status. */
export function reportFailure(command: string | undefined, err: unknown, json: boolean): number {
  const status = exitStatusOf(err)
  return status === EXIT_USAGE ? reportUsageError(command, err, json) : reportError(command, err, json, status)
}

/** A failure, said once on stderr (and as JSON on stdout with --json); exit 1 (or `status`). */
export function reportError(command: string | undefined, err: unknown, json: boolean, status = EXIT_FAILURE): number {
  const result = errorResult(command, err)
  printErr(`${who(command)}: ${result.error.message}`)
  if (json) printOut(JSON.stringify(result))
  return status
}

/** A usage error: what is wrong, then where help is (and JSON with --json); exit 2. */
export function reportUsageError(command: string | undefined, err: unknown, json: boolean): number {
  const result = errorResult(command, err)
  printErr(formatUsageError(command, result.error.message))
  if (json) printOut(JSON.stringify(result))
  return EXIT_USAGE
}
