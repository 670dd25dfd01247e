// One error type, one `stage` per step that can fail; the rest of the
// fields follow Node's SystemError (code, errno, syscall, path).
import { getSystemErrorName } from 'node:util'
import type { Stage } from './protocol.js'

export type { Stage } from './protocol.js'

export interface DaemonizeErrorFields {
  stage: Stage
  code: string
  errno?: number
  syscall?: string
  path?: string
  pid?: number
  exitCode?: number | null
  signal?: NodeJS.Signals | null
  logTail?: string
  /** A rolling restart that stopped (--instances): every instance, its pid and the release it runs. */
  instances?: { index: number; pid?: number; release?: number }[]
  cause?: unknown
}

/**
 * What makes an error a DaemonizeError for `instanceof`, whichever copy of
 * this module made it: the CLI's bundles each carry their own copy, and a
 * part of one loaded later (dist/cli-lazy-*.cjs) throws errors of its copy.
 */
const BRAND = Symbol.for('node-daemonize.DaemonizeError')

export class DaemonizeError extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true
  }

  readonly stage: Stage
  readonly code: string
  readonly errno?: number
  readonly syscall?: string
  readonly path?: string
  /** The daemon's pid, when it got that far. */
  readonly pid?: number
  /** How the daemon ended, when it exited during the start-up window. */
  readonly exitCode?: number | null
  readonly signal?: NodeJS.Signals | null
  /** The last lines of the daemon's log, when it died during start-up. */
  readonly logTail?: string
  /** A rolling restart that stopped: which instances run which release. */
  readonly instances?: { index: number; pid?: number; release?: number }[]

  constructor(message: string, fields: DaemonizeErrorFields) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause })
    this.name = 'DaemonizeError'
    this.stage = fields.stage
    this.code = fields.code
    if (fields.errno !== undefined) this.errno = fields.errno
    if (fields.syscall !== undefined) this.syscall = fields.syscall
    if (fields.path !== undefined) this.path = fields.path
    if (fields.pid !== undefined) this.pid = fields.pid
    if (fields.exitCode !== undefined) this.exitCode = fields.exitCode
    if (fields.signal !== undefined) this.signal = fields.signal
    if (fields.logTail !== undefined) this.logTail = fields.logTail
    if (fields.instances !== undefined) this.instances = fields.instances
    Object.defineProperty(this, BRAND, { value: true })
  }
}

/** errno as Node reports it (negative on Linux) and its code name. */
export function errnoFields(positiveErrno: number): { errno: number; code: string } {
  const errno = -Math.abs(positiveErrno)
  let code: string
  try {
    code = getSystemErrorName(errno)
  } catch {
    code = `E${Math.abs(errno)}`
  }
  return { errno, code }
}

interface SystemErrorLike {
  code?: unknown
  errno?: unknown
  syscall?: unknown
  path?: unknown
  message?: unknown
}

/** Wrap a Node or addon SystemError with the stage it happened in. */
export function stageError(stage: Stage, what: string, err: unknown, path?: string): DaemonizeError {
  const e = (err ?? {}) as SystemErrorLike
  const code = typeof e.code === 'string' ? e.code : 'ERR_UNKNOWN'
  const detail = typeof e.message === 'string' ? e.message : String(err)
  return new DaemonizeError(`${what}: ${detail}`, {
    stage,
    code,
    errno: typeof e.errno === 'number' ? e.errno : undefined,
    syscall: typeof e.syscall === 'string' ? e.syscall : undefined,
    path: path ?? (typeof e.path === 'string' ? e.path : undefined),
    cause: err,
  })
}

/**
 * A graceful restart was asked for and goes on, but the wait for the
 * supervisor's verdict ended first: it may still complete (the CLI exits 3).
 */
export const ERR_RESTART_PENDING = 'ERR_DAEMON_RESTART_PENDING'

/**
 * A usage error in the options themselves (Node's ERR_INVALID_ARG_VALUE),
 * at stage `options`: from the CLI, exit 2 with the "Try --help" line.
 */
export function optionError(message: string, path?: string): DaemonizeError {
  return new DaemonizeError(message, { stage: 'options', code: 'ERR_INVALID_ARG_VALUE', path })
}
