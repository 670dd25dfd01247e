// Options -> a checked launch: every path resolved against the caller's cwd
// and every input checked before anything is spawned.
import { accessSync, constants as fsc, existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { DaemonizeError, optionError, stageError } from '../errors.js'
import { CONTRACT, CONTRACT_VERSION, ENV_PREFIX, envName, LOG_FILE, READY_FD } from '../daemon/contract.cjs'
import { checkDurationMs } from '../duration.js'
import { statAtStage } from '../files/checks.js'
import { addon } from '../addon.js'
import { packageRoot } from '../native.js'
import { type RespawnMode, type RespawnOptions, type RespawnPolicy, resolveRespawn } from './respawn.js'
import { type Credentials, resolveCredentials } from './user.js'
import { isListenVar, type Listener, resolveListeners } from './listen.js'

export interface DaemonizeOptions {
  /** The script the daemon runs (must be an existing, readable regular file). */
  entry: string
  /** Arguments after the entry, passed verbatim (a Buffer: these exact bytes). */
  args?: (string | Buffer)[]
  /** Node options before the entry, e.g. ['--enable-source-maps']. */
  execArgv?: string[]
  /** The program to exec. Default: process.execPath. */
  execPath?: string
  /** The daemon's environment, replacing the caller's. Default: process.env. */
  env?: Record<string, string | Buffer | undefined>
  /** Start from an empty environment with a sane PATH (SAFE_PATH); `env` entries are added to it. */
  clearEnv?: boolean
  /** The daemon's working directory. Default '/'. */
  cwd?: string
  /** The daemon's umask. Default 0o022. */
  umask?: number
  /** stdout and stderr, appended (created 0640). Default (and '/dev/null'): no log, stdout/stderr on /dev/null. */
  logFile?: string
  /** A pid file, locked for the daemon's whole life. */
  pidFile?: string
  /** Wait until the daemon calls ready(), at most this long. 0: do not wait. */
  waitReadyMs?: number
  /** Without readiness: watch this long for a crash at start-up. Default 0. */
  startupGraceMs?: number
  /** When waitReadyMs runs out, leave the daemon running instead of killing it. */
  keepOnTimeout?: boolean
  /** Load the daemon-side preload (env clean-up, log reopen on SIGHUP). Default true. */
  preload?: boolean
  /** Run as this user (name or uid); root only. */
  user?: string | number
  /** Run as this group (name or gid); default: the user's primary group. */
  group?: string | number
  /** Allow core dumps. Default false: RLIMIT_CORE is 0. */
  coreDumps?: boolean
  /** RLIMIT_NOFILE, soft and hard. */
  maxOpenFiles?: number
  /** Under systemd, send MAINPID=<daemon> and READY=1 once the daemon is up. Default false. */
  notifySystemd?: boolean
  /**
   * Restart the daemon when it dies, from a small C supervisor (the pid file
   * then names the supervisor; needs pidFile). true, a mode, or the policy:
   * see RespawnOptions and docs/supervision.md. Default: no supervisor.
   */
  respawn?: boolean | RespawnMode | RespawnOptions
  /**
   * A name for the daemon (letters, digits, '_', '.', '-'): the pid file and
   * the log get default paths in the standard directories unless given, and
   * the start spec is saved, so that stop, status, restart, list and logs
   * find it by name (docs/names.md).
   */
  name?: string
  /**
   * Listening sockets the launcher opens as the caller before anything is
   * spawned, passed as fds 3.. with systemd's LISTEN_* variables:
   * 'tcp:PORT', 'tcp:HOST:PORT', 'tcp:[V6]:PORT', 'unix:PATH', each with an
   * optional ',name=NAME' (docs/sockets.md).
   */
  listen?: string[]
  /** Hand on the sockets this process was itself started with (LISTEN_PID is our pid), before `listen`'s. */
  listenInherited?: boolean
}

/** PATH under clearEnv: system directories only, nothing relative or user-writable. */
export const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
/**
 * The lowest RLIMIT_NOFILE accepted. The limit is set before the entry check,
 * while the daemon still holds the helper's fds 0-8, so a lower one fails
 * there with EMFILE; Node itself aborts at start-up below about 20.
 */
export const MIN_OPEN_FILES = 16
/** Variables that describe the user; set for the target user when the ids change. */
const USER_VARS = ['HOME', 'USER', 'LOGNAME'] as const

export const preloadPath = join(packageRoot, 'dist', 'daemon', 'preload.cjs')

export interface Launch {
  entry: string
  execPath: string
  argv: (string | Buffer)[]
  /** Files the daemon must be able to read as its own user: the entry, then the preload. */
  checks: string[]
  env: (string | Buffer)[]
  cwd: string
  umask: number
  logFile?: string
  windowMs: number
  waitReady: boolean
  keepOnTimeout: boolean
  credentials?: Credentials
  maxOpenFiles?: number
  coreDumps: boolean
  notifySystemd: boolean
  /** The supervisor's policy; undefined: a one-shot daemon. */
  respawn?: RespawnPolicy
  /** The daemon's listening sockets (its fds 3..), in order; their variables are added by the plan. */
  listeners: Listener[]
  /** The pid file, as given (a name's default filled in: launch/named.ts). */
  pidFile?: string
}

function checkString(name: string, v: unknown): string {
  if (typeof v !== 'string') throw optionError(`${name} must be a string, got ${typeof v}`)
  if (v.includes('\0')) throw optionError(`${name} must not contain a NUL byte`)
  return v
}

/** A path: a non-empty string (resolve('') would quietly mean the caller's cwd). */
function checkPath(name: string, v: unknown): string {
  if (checkString(name, v) === '') throw optionError(`${name} must not be empty`)
  return v as string
}

function checkBoolean(name: string, v: unknown): boolean {
  if (v === undefined) return false
  if (typeof v !== 'boolean') throw optionError(`${name} must be a boolean, got ${typeof v}`)
  return v
}

/**
 * The null device as a log means no log file: the same /dev/null the daemon
 * gets without one (not a regular file, so openLog in launch/log-file.ts would refuse it).
 */
export const NULL_DEVICE = '/dev/null'

/** A string, or a Buffer for bytes that are not UTF-8 (program arguments, environment values). */
function checkBytes(name: string, v: unknown): string | Buffer {
  if (!Buffer.isBuffer(v)) return checkString(name, v)
  if (v.includes(0)) throw optionError(`${name} must not contain a NUL byte`)
  return v
}

function checkStrings(name: string, v: unknown): string[] {
  if (v === undefined) return []
  if (!Array.isArray(v)) throw optionError(`${name} must be an array of strings`)
  return v.map((s, i) => checkString(`${name}[${i}]`, s))
}

function checkArray(name: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) throw optionError(`${name} must be an array of strings`)
  return v
}

function checkEntry(path: string): void {
  const st = statAtStage('entry', path, `entry ${path} cannot be used`)
  if (st.isDirectory()) {
    throw new DaemonizeError(`entry ${path} is a directory, not a script`, {
      stage: 'entry',
      code: 'EISDIR',
      errno: -21,
      syscall: 'open',
      path,
    })
  }
  if (!st.isFile()) {
    throw new DaemonizeError(`entry ${path} is not a regular file`, { stage: 'entry', code: 'EINVAL', path })
  }
  try {
    accessSync(path, fsc.R_OK)
  } catch (err) {
    throw stageError('entry', `entry ${path} is not readable`, err, path)
  }
}

function checkCwd(path: string): void {
  const st = statAtStage('cwd', path, `cwd ${path} cannot be used`)
  if (!st.isDirectory()) {
    throw new DaemonizeError(`cwd ${path} is not a directory`, {
      stage: 'cwd',
      code: 'ENOTDIR',
      errno: -20,
      syscall: 'chdir',
      path,
    })
  }
}

/**
 * The daemon's environment: `env` (or the caller's), or with clearEnv only
 * SAFE_PATH plus `env`; then HOME/USER/LOGNAME for the target user; then
 * ours. NODE_DAEMONIZE_*, NOTIFY_SOCKET and systemd's LISTEN_* never come
 * from outside (LISTEN_* describe this launch's sockets; the plan adds them).
 */
function buildEnv(
  options: DaemonizeOptions,
  launch: { logFile?: string; waitReady: boolean; credentials?: Credentials; nsockets: number },
): (string | Buffer)[] {
  const given = options.env
  if (given !== undefined && (given === null || typeof given !== 'object' || Array.isArray(given))) {
    throw optionError('env must be an object of strings')
  }
  if (options.clearEnv !== undefined && typeof options.clearEnv !== 'boolean') {
    throw optionError(`clearEnv must be a boolean, got ${typeof options.clearEnv}`)
  }
  const source = options.clearEnv ? { PATH: SAFE_PATH, ...given } : (given ?? process.env)
  const env: Record<string, string | Buffer> = {}
  for (const [k, v] of Object.entries(source)) {
    if (v === undefined || k.startsWith(ENV_PREFIX) || k === 'NOTIFY_SOCKET' || isListenVar(k)) continue
    if (k.includes('=') || k === '') throw optionError(`env key '${k}' is not a valid variable name`)
    env[checkString(`env key`, k)] = checkBytes(`env.${k}`, v)
  }
  const creds = launch.credentials
  if (creds) {
    // Inherited values describe the caller, not the daemon's user: replace
    // them with the target's, or drop them when the uid has no passwd entry.
    // Values given in `env` win.
    const myUid = process.getuid?.() ?? 0
    for (const k of USER_VARS) {
      if (given?.[k] !== undefined) continue
      if (creds.user) env[k] = k === 'HOME' ? creds.user.home : creds.user.name
      else if (creds.uid !== myUid) delete env[k]
    }
  }
  // Our variables come with the version of the contract they follow.
  if (launch.logFile !== undefined) env[envName(LOG_FILE)] = launch.logFile
  if (launch.waitReady) env[envName(READY_FD)] = String(daemonReadyFd() + launch.nsockets)
  if (launch.logFile !== undefined || launch.waitReady) env[envName(CONTRACT)] = CONTRACT_VERSION
  return Object.entries(env).map(([k, v]) => (typeof v === 'string' ? `${k}=${v}` : Buffer.concat([Buffer.from(`${k}=`), v])))
}

/** The daemon's fd of the ready pipe without sockets, as the helper sets it up (each socket shifts it by one). */
function daemonReadyFd(): number {
  return addon().constants.ND_DAEMON_FD_READY
}

/** The preload is the package's own file, as the addon and the helper are: a missing one is their stage, not a bad option. */
function checkPreload(): string {
  if (!existsSync(preloadPath)) {
    throw new DaemonizeError(`the daemon preload ${preloadPath} is missing: the package is not built (npm run build)`, {
      stage: 'helper',
      code: 'ENOENT',
      path: preloadPath,
    })
  }
  return preloadPath
}

/**
 * Resolve and check every option. Opens nothing: throws DaemonizeError
 * when an input is bad. `known.credentials`: `user` and `group` already
 * resolved (a named start resolves them first, for its default paths).
 */
export function resolveLaunch(options: DaemonizeOptions, known?: { credentials: Credentials | undefined }): Launch {
  if (options === null || typeof options !== 'object') throw optionError('options must be an object')
  const entry = resolve(checkPath('entry', options.entry))
  const args = options.args === undefined ? [] : checkArray('args', options.args).map((a, i) => checkBytes(`args[${i}]`, a))
  const execArgv = checkStrings('execArgv', options.execArgv)
  const execPath = resolve(checkPath('execPath', options.execPath ?? process.execPath))
  const cwd = resolve(checkPath('cwd', options.cwd ?? '/'))
  // Opened by daemonize() itself; checked here so that a bad one creates nothing.
  if (options.pidFile !== undefined) checkPath('pidFile', options.pidFile)
  // Checked (and used) by launch/named.ts, before this.
  if (options.name !== undefined) checkString('name', options.name)
  const umask = options.umask ?? 0o022
  if (!Number.isInteger(umask) || umask < 0 || umask > 0o777) {
    throw optionError(`umask must be an integer from 0 to 0o777, got ${String(options.umask)}`)
  }
  const waitReadyMs = checkDurationMs('waitReadyMs', options.waitReadyMs, 0)
  const startupGraceMs = checkDurationMs('startupGraceMs', options.startupGraceMs, 0)
  const maxOpenFiles = options.maxOpenFiles
  // A safe integer (the CLI's bound too); above fs.nr_open the daemon's setrlimit says EPERM.
  if (maxOpenFiles !== undefined && (!Number.isSafeInteger(maxOpenFiles) || maxOpenFiles < MIN_OPEN_FILES)) {
    throw optionError(
      `maxOpenFiles must be an integer from ${MIN_OPEN_FILES} to ${Number.MAX_SAFE_INTEGER}, got ${String(maxOpenFiles)}`,
    )
  }
  const keepOnTimeout = checkBoolean('keepOnTimeout', options.keepOnTimeout)
  const coreDumps = checkBoolean('coreDumps', options.coreDumps)
  const notifySystemd = checkBoolean('notifySystemd', options.notifySystemd)
  if (options.preload !== undefined) checkBoolean('preload', options.preload)
  const respawn = resolveRespawn(options.respawn)
  // A name gets its default pid file (launch/named.ts) before the launch.
  if (respawn !== undefined && options.pidFile === undefined && options.name === undefined) {
    throw optionError('respawn needs a pidFile: stop and status find the supervisor through it')
  }
  const logPath = options.logFile === undefined ? undefined : resolve(checkPath('logFile', options.logFile))
  const logFile = logPath === NULL_DEVICE ? undefined : logPath

  checkEntry(entry)
  checkCwd(cwd)
  const credentials = known !== undefined ? known.credentials : resolveCredentials(options.user, options.group)
  const listeners = resolveListeners(options.listen, options.listenInherited)
  const waitReady = waitReadyMs > 0
  const env = buildEnv(options, { logFile, waitReady, credentials, nsockets: listeners.length })

  const preload = options.preload === false ? undefined : checkPreload()
  const argv = [execPath, ...(preload ? ['--require', preload] : []), ...execArgv, entry, ...args]
  const checks = preload ? [entry, preload] : [entry]

  return {
    entry,
    execPath,
    argv,
    checks,
    env,
    cwd,
    umask,
    logFile,
    windowMs: waitReady ? waitReadyMs : startupGraceMs,
    waitReady,
    keepOnTimeout,
    credentials,
    maxOpenFiles,
    coreDumps,
    notifySystemd,
    respawn,
    listeners,
    pidFile: options.pidFile,
  }
}
