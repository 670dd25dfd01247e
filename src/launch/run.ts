// `run` (docs/containers.md): the entry in the foreground, under the C
// supervisor exec'd in place of this process (native/pid1.h), so that the
// process a container runtime started is ~1 MB of C, not Node: it reaps
// every orphan, passes signals on, and exits with the app's status. The
// options are checked as start's are, the sockets bound, the log and the
// ready file's directory opened here, as the caller; then execSupervisor.
import { closeSync, readFileSync } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { addon } from '../addon.js'
import { DaemonizeError, optionError, stageError } from '../errors.js'
import { walkDir } from '../files/dirwalk.js'
import { helperPath, native } from '../native.js'
import type { DaemonizeOptions } from '../options/daemonize-options.js'
import { buildEnv } from '../options/env.js'
import { resolveInstances } from '../options/instances.js'
import { resolveMaxMemory } from '../options/max-memory.js'
import { type Launch, resolveLaunch } from '../options/resolve.js'
import { resolveRespawn, type RespawnMode, type RespawnOptions } from '../options/respawn.js'
import { checkDurationMs } from '../duration.js'
import { checkPath } from '../options/values.js'
import { openLaunchLog } from './log-file.js'
import { encodePlan, ENV_TEST_FAULT, type Plan } from './plan.js'
import { closeListeners, listenEnv, openListeners, ownedListenerFds } from './sockets.js'

/** The signals `run` holds back unless asked: USR1 opens Node's inspector (127.0.0.1:9229). */
export const HELD_SIGNALS = ['SIGUSR1'] as const
export type HeldSignal = (typeof HELD_SIGNALS)[number]

/** start's options, but for what only a daemon has (a name, a pid file, a start-up grace), and run's own. */
export interface RunOptions extends Omit<DaemonizeOptions, 'name' | 'pidFile' | 'startupGraceMs' | 'notifySystemd' | 'respawn'> {
  /** Restart the app when it dies (default: no: the orchestrator restarts containers; the app's end is the run's end). */
  respawn?: boolean | RespawnMode | RespawnOptions
  /** On SIGTERM or SIGINT: the wait after the app's SIGTERM before SIGKILL. Default 10 s. */
  stopTimeoutMs?: number
  /** Pass these on too (only SIGUSR1 is held back by default). */
  forwardSignals?: HeldSignal[]
  /** With waitReadyMs: this file exists while the app is ready (a probe's `test -f`). */
  readyFile?: string
}

/** /proc/self is this process: else /proc is another PID namespace's. */
function checkOwnProc(): void {
  let pid = NaN
  try {
    pid = Number.parseInt(readFileSync('/proc/self/stat', 'latin1').slice(0, 24), 10)
  } catch {
    // no /proc at all: refused below
  }
  if (pid !== process.pid) {
    throw new DaemonizeError(
      '/proc is not this PID namespace\'s own: mount one (unshare --pid --fork --mount-proc, or mount -t proc proc /proc in the namespace)',
      { stage: 'run', code: 'ENOTSUP', path: '/proc/self/stat' },
    )
  }
}

/** Every option checked, into a Launch and run's own part of the plan. */
export function resolveRun(options: RunOptions): { launch: Launch; readyFile?: string; forwardUsr1: boolean; once: boolean } {
  if (options === null || typeof options !== 'object') throw optionError('options must be an object')
  const o = options as RunOptions & DaemonizeOptions
  for (const k of ['name', 'pidFile', 'startupGraceMs', 'notifySystemd'] as const) {
    if (o[k] !== undefined) throw optionError(`${k} is not an option of run (a daemon's only)`)
  }
  const launch = resolveLaunch({ ...options, respawn: undefined, instances: undefined, maxMemoryBytes: undefined, cwd: options.cwd ?? process.cwd(), startupGraceMs: 0 })
  const stopTimeoutMs = options.stopTimeoutMs === undefined ? undefined : checkDurationMs('stopTimeoutMs', options.stopTimeoutMs, 0)
  const once = options.respawn === undefined || options.respawn === false
  const given: RespawnOptions =
    once || options.respawn === true ? {} : typeof options.respawn === 'string' ? { mode: options.respawn } : (options.respawn as RespawnOptions)
  const respawn = resolveRespawn(stopTimeoutMs === undefined ? given : { ...given, stopTimeoutMs })
  const instances = resolveInstances(options.instances, !once)
  // --max-memory: checked here, against run's own --respawn (resolveLaunch saw none).
  launch.maxMemoryBytes = resolveMaxMemory(options.maxMemoryBytes, !once)
  if (instances !== undefined) {
    launch.env = buildEnv(options, { logFile: launch.logFile, waitReady: launch.waitReady, credentials: launch.credentials, nsockets: launch.listeners.length, instances })
  }
  const forward = options.forwardSignals ?? []
  if (!Array.isArray(forward) || forward.some((s) => !(HELD_SIGNALS as readonly string[]).includes(s))) {
    throw optionError(`forwardSignals takes ${HELD_SIGNALS.join(', ')} (every other signal but TERM and INT is passed on already)`)
  }
  let readyFile: string | undefined
  if (options.readyFile !== undefined) {
    readyFile = resolve(checkPath('readyFile', options.readyFile))
    if (!launch.waitReady) throw optionError('readyFile needs waitReadyMs: the file says the app called ready()')
  }
  // No start-up grace: a quick death is the app's status, as any exit is.
  return { launch: { ...launch, windowMs: launch.waitReady ? launch.windowMs : 0, respawn, instances }, readyFile, forwardUsr1: forward.includes('SIGUSR1'), once }
}

/**
 * Run `entry` in the foreground under the C supervisor, which replaces this
 * process: never returns. Throws a DaemonizeError (nothing changed) when an
 * option, the namespace's /proc, a socket, the log or the ready file's
 * directory is refused.
 */
export function runForeground(options: RunOptions): never {
  if (process.platform !== 'linux') throw new DaemonizeError('run needs Linux', { stage: 'run', code: 'ENOTSUP' })
  checkOwnProc()
  const { launch, readyFile, forwardUsr1, once } = resolveRun(options)
  const faults = (process.env[ENV_TEST_FAULT] ?? '').split(',')
  addon()
  const socketFds = openListeners(launch.listeners, launch.credentials, launch.umask)
  let logFd = -1
  let readyDir = -1
  try {
    if (launch.logFile !== undefined) logFd = openLaunchLog(launch).fd
    if (readyFile !== undefined) {
      // The directory rule (files/dirwalk.ts): owned by root or us, writable
      // by nobody else unless sticky; the supervisor makes and removes the
      // file by its name in this fd, never by the path.
      const dir = walkDir(dirname(readyFile), { stage: 'run', readable: true })
      if (dir === undefined) throw new DaemonizeError(`the ready file's directory ${dirname(readyFile)} does not exist`, { stage: 'run', code: 'ENOENT', path: dirname(readyFile) })
      readyDir = dir.fd
    }
    const plan: Plan = {
      cwd: launch.cwd,
      checks: launch.checks,
      execPath: launch.execPath,
      argv: launch.argv,
      env: [...launch.env, ...listenEnv(launch.listeners)],
      nsockets: launch.listeners.length,
      umask: launch.umask,
      windowMs: launch.windowMs,
      waitReady: launch.waitReady,
      keepOnTimeout: launch.keepOnTimeout,
      hasLock: false,
      ids: launch.credentials,
      maxOpenFiles: launch.maxOpenFiles,
      coreLimit: launch.coreDumps ? undefined : 0,
      respawn: launch.respawn,
      instances: launch.instances,
      maxMemoryBytes: launch.maxMemoryBytes,
      // Tests only (NODE_DAEMONIZE_TEST_FAULT, plan.ts): as if PR_SET_CHILD_SUBREAPER failed; as if no cgroup could be made.
      faultNoSubreaper: faults.includes('no-subreaper'),
      faultNoCgroup: faults.includes('no-cgroup'),
      run: {
        once,
        forwardUsr1,
        logFile: logFd >= 0,
        readyName: readyFile === undefined ? undefined : basename(readyFile),
        notifySocket: process.env.NOTIFY_SOCKET || undefined,
      },
    }
    return native().execSupervisor(helperPath(), encodePlan(plan), logFd, readyDir, socketFds)
  } catch (err) {
    for (const fd of [logFd, readyDir]) if (fd >= 0) closeSync(fd)
    closeListeners(ownedListenerFds(launch.listeners, socketFds))
    throw err instanceof DaemonizeError ? err : stageError('run', 'cannot exec the supervisor', err)
  }
}
