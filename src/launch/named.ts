// daemonize({ name }): default paths in the standard directories, a check
// that the name is not already running, and the spec saved once the start
// has succeeded (so a refused second start never overwrites the first's).
import { closeSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { DaemonizeError } from '../errors.js'
import { euid } from '../files/checks.js'
import { status } from '../control/status.js'
import { checkName, nameDirs, namePaths, type NameDirs } from '../names/paths.js'
import type { LogAt } from './log-file.js'
import { type DaemonizeOptions, resolveLaunch } from '../options/resolve.js'
import { holdNameLock } from '../names/lock.js'
import { findSpec, saveSpec } from '../names/spec.js'
import { ensureDir, openServiceDir, type ServiceDir } from '../files/state-dirs.js'
import { resolveCredentials } from '../options/user.js'

export interface NamedLaunch {
  name: string
  dirs: NameDirs
  /** The options with the default pid file and log filled in. */
  options: DaemonizeOptions
  /** The name's lock (names/lock.ts), held until the spec is saved or the start failed: closeNamed(). */
  lockFd: number
  /** The log, when it is in a service user's own directory: opened there through this fd only (closeNamed closes it). */
  logAt?: LogAt
}

/** A running (or starting, restarting, stopping) daemon counts as "running" for a second start. */
const LIVE_STATES = new Set(['running', 'starting', 'restarting', 'stopping'])

/**
 * For options with a name: check the name, refuse when the daemon of that
 * name runs (whatever pid file its spec names), fill in the default pid
 * file and log, and create their directories (checked, see files/state-dirs.ts).
 * Holds the name's lock from the check on: the caller ends with
 * closeNamed(). undefined for options without a name.
 */
export async function prepareNamed(options: DaemonizeOptions): Promise<NamedLaunch | undefined> {
  if (options === null || typeof options !== 'object' || options.name === undefined) return undefined
  const name = checkName(options.name)
  const dirs = nameDirs()
  const creds = resolveCredentials(options.user, options.group)
  const serviceUser = creds !== undefined && creds.uid !== euid()
  const paths = namePaths(dirs, name, serviceUser)
  const resolved: DaemonizeOptions = { ...options, name }
  resolved.pidFile ??= paths.pidFile
  resolved.logFile ??= paths.logFile
  // Every option is checked before a directory is made.
  resolveLaunch(resolved)

  ensureDir(dirs.specs, { mode: dirs.modes.specs }, 'spec')
  const lockFd = await holdNameLock(dirs.specs, name)
  let logAt: LogAt | undefined
  try {
    checkNotRunning(name, dirs)
    logAt = prepareDirs(options, resolved, dirs)
  } catch (err) {
    closeSync(lockFd)
    throw err
  }
  return { name, dirs, options: resolved, lockFd, logAt }
}

function checkNotRunning(name: string, dirs: NameDirs): void {
  const old = findSpec(name, dirs)
  const oldPidFile = old?.options.pidFile
  if (oldPidFile !== undefined) {
    const s = status(oldPidFile)
    if (LIVE_STATES.has(s.state)) {
      const pid = s.supervisor?.pid ?? s.pid
      throw new DaemonizeError(`${name} is already running (${pid === undefined ? s.state : `pid ${pid}`}, pid file ${oldPidFile})`, {
        stage: 'pidfile',
        code: 'EALREADY',
        path: oldPidFile,
        pid,
      })
    }
  }
}

function prepareDirs(options: DaemonizeOptions, resolved: DaemonizeOptions, dirs: NameDirs): LogAt | undefined {
  if (options.pidFile === undefined) ensureDir(dirs.run, { mode: dirs.modes.run }, 'pidfile')
  // The service user owns its log directory, so that a rotation (rename +
  // reload) lets the daemon create the new file; root reads it still. It is
  // made, or checked, whether the log path came from the defaults or from a
  // saved spec (a restart), and the log is opened in it by its fd.
  const own = serviceLogDir(resolved, dirs)
  if (own !== undefined) {
    const dirfd = openServiceDir(own, 'log', { mode: dirs.modes.logs }) as number
    return { dirfd, name: own.file }
  }
  if (options.logFile === undefined) ensureDir(dirs.logs, { mode: dirs.modes.logs }, 'log')
  return undefined
}

/**
 * A service user's own log directory (root's standard directories, with a
 * name, the log at its default place there, given or to be filled in):
 * where it is and whose it must be — the launch's --user, or the caller
 * without one.
 */
export function serviceLogDir(options: DaemonizeOptions, dirs: NameDirs = nameDirs()): (ServiceDir & { file: string }) | undefined {
  if (!dirs.system || options.name === undefined) return undefined
  const name = checkName(options.name)
  const creds = resolveCredentials(options.user, options.group)
  const logFile = options.logFile ?? namePaths(dirs, name, creds !== undefined && creds.uid !== euid()).logFile
  const file = `${name}.log`
  if (typeof logFile !== 'string' || resolve(logFile) !== join(dirs.logs, name, file)) return undefined
  return { parent: dirs.logs, name, file, uid: creds?.uid ?? euid(), gid: creds?.gid ?? process.getegid?.() ?? 0 }
}

/** Save the spec of a named daemon that has started. Returns the spec's path. */
export function saveNamed(named: NamedLaunch): string {
  return saveSpec(named.dirs, named.name, named.options)
}

/** Release the name's lock (after the spec is saved, or the start failed). */
export function closeNamed(named: NamedLaunch): void {
  if (named.logAt !== undefined) closeSync(named.logAt.dirfd)
  named.logAt = undefined
  if (named.lockFd < 0) return
  closeSync(named.lockFd)
  named.lockFd = -1
}
