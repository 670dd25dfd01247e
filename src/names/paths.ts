// Daemon names and where a named daemon's files live by default
// (docs/names.md). A name becomes a file name in directories root trusts,
// so it is checked against a small alphabet before any path is built.
import { isAbsolute, join, resolve } from 'node:path'
import { DaemonizeError } from '../errors.js'
import { euid } from '../files/checks.js'
import { native } from '../native.js'
import type { ServiceDir } from '../files/state-dirs.js'
import type { Credentials } from '../options/user.js'

/** Letters, digits, '_', '.', '-'; not starting with '.' or '-'; at most 64; never '..'. No '/' and no '@' (systemd's template separator). */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/
export const MAX_NAME_LENGTH = 64

/** Throws a DaemonizeError (stage 'name', ERR_INVALID_ARG_VALUE) unless `name` is a valid daemon name. */
export function checkName(name: unknown): string {
  if (typeof name !== 'string') throw nameError(`a daemon name must be a string, got ${typeof name}`)
  if (!NAME.test(name) || name.includes('..')) {
    const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name)
    throw nameError(
      `invalid daemon name ${shown}: use letters, digits, '_', '.' and '-' (at most ${MAX_NAME_LENGTH}, not starting with '.' or '-', no '..', '/' or '@')`,
    )
  }
  return name
}

function nameError(message: string): DaemonizeError {
  return new DaemonizeError(message, { stage: 'name', code: 'ERR_INVALID_ARG_VALUE' })
}

/**
 * TESTS ONLY: when set (an absolute path), root's standard directories are
 * looked for under it (`$it/run/node-daemonize`, `$it/var/lib/...`,
 * `$it/var/log/...`) instead of under `/`, so that tests never touch the
 * machine's own. Not meant for production use; it is documented as such.
 */
export const TEST_ROOT_ENV = 'NODE_DAEMONIZE_TEST_ROOT'

export interface NameDirs {
  /** The system's directories (root) or the user's own (anyone else). */
  system: boolean
  /** Pid files (and their lock and state files). Root: /run/node-daemonize (gone at reboot). */
  run: string
  /** Saved start specs, one per name: the index of every named daemon. Root: /var/lib/node-daemonize. */
  specs: string
  /** Logs. Root: /var/log/node-daemonize. */
  logs: string
  /** Mode of each directory: run and logs world-readable for root, everything private for a user. */
  modes: { run: number; specs: number; logs: number }
}

/**
 * The standard directories for the caller. Root: /run, /var/lib and
 * /var/log. Anyone else: $XDG_STATE_HOME/node-daemonize (default
 * ~/.local/state), with run/, specs/ and log/ in it. $XDG_RUNTIME_DIR is not
 * used: it is unset without logind (cron, su) and removed at the user's
 * last logout where logind runs, taking a running daemon's pid file along.
 */
export function nameDirs(env: NodeJS.ProcessEnv = process.env): NameDirs {
  if (euid() === 0) {
    const given = env[TEST_ROOT_ENV]
    const top = given !== undefined && given !== '' && isAbsolute(given) ? given : '/'
    return {
      system: true,
      run: join(top, 'run', 'node-daemonize'),
      specs: join(top, 'var', 'lib', 'node-daemonize'),
      logs: join(top, 'var', 'log', 'node-daemonize'),
      modes: { run: 0o755, specs: 0o700, logs: 0o755 },
    }
  }
  const base = join(stateHome(env), 'node-daemonize')
  return {
    system: false,
    run: join(base, 'run'),
    specs: join(base, 'specs'),
    logs: join(base, 'log'),
    modes: { run: 0o700, specs: 0o700, logs: 0o700 },
  }
}

/**
 * The CLI's V8 compile cache directory (src/cli/compile-cache.ts). Root:
 * /var/cache/node-daemonize (under the test root, as nameDirs). Anyone
 * else: $XDG_CACHE_HOME/node-daemonize (default ~/.cache). Mode 0700.
 */
export function compileCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (euid() === 0) {
    const given = env[TEST_ROOT_ENV]
    const top = given !== undefined && given !== '' && isAbsolute(given) ? given : '/'
    return join(top, 'var', 'cache', 'node-daemonize')
  }
  const xdg = env.XDG_CACHE_HOME
  return join(xdg !== undefined && isAbsolute(xdg) ? xdg : join(homeOf(env), '.cache'), 'node-daemonize')
}

/** $XDG_STATE_HOME when absolute (the XDG spec ignores a relative one), else ~/.local/state. */
function stateHome(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_STATE_HOME
  if (xdg !== undefined && isAbsolute(xdg)) return xdg
  return join(homeOf(env), '.local', 'state')
}

/** $HOME when absolute, else the passwd entry's home. */
function homeOf(env: NodeJS.ProcessEnv): string {
  if (env.HOME !== undefined && isAbsolute(env.HOME)) return env.HOME
  const entry = native().lookupUser(euid())
  if (entry === null || !isAbsolute(entry.home)) {
    throw new DaemonizeError(`cannot find a home directory for uid ${euid()}: set HOME or XDG_STATE_HOME`, {
      stage: 'name',
      code: 'ENOENT',
    })
  }
  return entry.home
}

/** The default files of a named daemon. */
export interface NamePaths {
  pidFile: string
  specPath: string
  logFile: string
  /** Root with a service user: the per-name log directory that user owns (so a rotation can create the new file). */
  logDir?: string
}

export function namePaths(dirs: NameDirs, name: string, serviceUser: boolean): NamePaths {
  const logDir = dirs.system && serviceUser ? join(dirs.logs, name) : undefined
  return {
    pidFile: join(dirs.run, `${name}.pid`),
    specPath: specPathOf(dirs, name),
    logFile: join(logDir ?? dirs.logs, `${name}.log`),
    logDir,
  }
}

export function specPathOf(dirs: NameDirs, name: string): string {
  // (a checked name in a normalized directory: no join() to normalize, which `list` paid 100 times)
  return `${dirs.specs.endsWith('/') ? dirs.specs : `${dirs.specs}/`}${name}.json`
}

/** The name of a spec file in the specs directory, or undefined for anything else there (a temp file). */
export function nameOfSpecFile(file: string): string | undefined {
  if (!file.endsWith('.json')) return undefined
  const name = file.slice(0, -'.json'.length)
  return NAME.test(name) && !name.includes('..') ? name : undefined
}

/** A service user's own log directory, and the log's name in it. */
export type ServiceLog = ServiceDir & { file: string }

/**
 * A service user's own log directory (root's standard directories, the log
 * at its default place there, given or filled in): where it is and whose it
 * must be — the launch's --user, or the caller without one.
 */
export function serviceLogOf(name: string, logFile: unknown, dirs: NameDirs, credentials: Credentials | undefined): ServiceLog | undefined {
  if (!dirs.system) return undefined
  const file = `${name}.log`
  if (typeof logFile !== 'string' || resolve(logFile) !== join(dirs.logs, name, file)) return undefined
  return { parent: dirs.logs, name, file, uid: credentials?.uid ?? euid(), gid: credentials?.gid ?? process.getegid?.() ?? 0 }
}
