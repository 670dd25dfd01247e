// Options -> one checked value, the Launch: every path resolved against the
// caller's cwd and every input checked (the entry and cwd looked at, the
// user and group looked up) before anything is made or spawned.
import { accessSync, constants as fsc, existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { DaemonizeError, optionError, stageError } from '../errors.js'
import { checkDurationMs } from '../duration.js'
import { statAtStage } from '../files/checks.js'
import { packageRoot } from '../native.js'
import { type DaemonizeOptions, MIN_OPEN_FILES, NULL_DEVICE } from './daemonize-options.js'
import { buildEnv } from './env.js'
import { type Listener, resolveListeners } from './listen.js'
import { resolveInstances } from './instances.js'
import { resolveMaxMemory } from './max-memory.js'
import { type RespawnPolicy, resolveRespawn } from './respawn.js'
import { type Credentials, resolveCredentials } from './user.js'
import { checkArray, checkBoolean, checkBytes, checkPath, checkString, checkStrings } from './values.js'

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
  /** With respawn: the instances side by side (undefined: one, without NODE_DAEMONIZE_INSTANCE). */
  instances?: number
  /** With respawn: --max-memory in bytes (undefined: none). */
  maxMemoryBytes?: number
  /** The daemon's listening sockets (its fds 3..), in order; their variables are added by the plan. */
  listeners: Listener[]
  /** The pid file, as given (a name's default filled in: launch/named.ts). */
  pidFile?: string
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
  // The rarer options' resolvers run only when their option is given: a
  // function that runs is compiled in full, however early it returns (in
  // the CLI's bundles with the bundle: scripts/eager.mjs).
  const respawn = options.respawn === undefined || options.respawn === false ? undefined : resolveRespawn(options.respawn)
  // A name gets its default pid file (launch/named.ts) before the launch.
  if (respawn !== undefined && options.pidFile === undefined && options.name === undefined) {
    throw optionError('respawn needs a pidFile: stop and status find the supervisor through it')
  }
  const instances = options.instances === undefined ? undefined : resolveInstances(options.instances, respawn !== undefined)
  const maxMemoryBytes = options.maxMemoryBytes === undefined ? undefined : resolveMaxMemory(options.maxMemoryBytes, respawn !== undefined)
  const logPath = options.logFile === undefined ? undefined : resolve(checkPath('logFile', options.logFile))
  const logFile = logPath === NULL_DEVICE ? undefined : logPath

  checkEntry(entry)
  checkCwd(cwd)
  const credentials = known !== undefined ? known.credentials : resolveCredentials(options.user, options.group)
  const listeners = options.listen === undefined && options.listenInherited === undefined ? [] : resolveListeners(options.listen, options.listenInherited)
  const waitReady = waitReadyMs > 0
  const env = buildEnv(options, { logFile, waitReady, credentials, nsockets: listeners.length, instances })

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
    instances,
    maxMemoryBytes,
    listeners,
    pidFile: options.pidFile,
  }
}
