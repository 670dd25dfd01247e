// daemonize({ name }): default paths in the standard directories, a check
// that the name is not already running, and the spec saved once the start
// has succeeded (so a refused second start never overwrites the first's).
import { closeSync } from 'node:fs'
import { DaemonizeError } from './errors.js'
import { euid } from './filecheck.js'
import { status } from './lifecycle.js'
import { checkName, nameDirs, namePaths, type NameDirs } from './names.js'
import { type DaemonizeOptions, resolveLaunch } from './options.js'
import { holdNameLock } from './name-lock.js'
import { findSpec, saveSpec } from './spec.js'
import { ensureDir } from './statedir.js'
import { resolveCredentials } from './user.js'

export interface NamedLaunch {
  name: string
  dirs: NameDirs
  /** The options with the default pid file and log filled in. */
  options: DaemonizeOptions
  /** The name's lock (name-lock.ts), held until the spec is saved or the start failed: closeNamed(). */
  lockFd: number
}

/** A running (or starting, restarting, stopping) daemon counts as "running" for a second start. */
const LIVE_STATES = new Set(['running', 'starting', 'restarting', 'stopping'])

/**
 * For options with a name: check the name, refuse when the daemon of that
 * name runs (whatever pid file its spec names), fill in the default pid
 * file and log, and create their directories (checked, see statedir.ts).
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
  try {
    checkNotRunning(name, dirs)
    prepareDirs(options, dirs, paths, creds)
  } catch (err) {
    closeSync(lockFd)
    throw err
  }
  return { name, dirs, options: resolved, lockFd }
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

function prepareDirs(options: DaemonizeOptions, dirs: NameDirs, paths: ReturnType<typeof namePaths>, creds: ReturnType<typeof resolveCredentials>): void {
  if (options.pidFile === undefined) ensureDir(dirs.run, { mode: dirs.modes.run }, 'pidfile')
  if (options.logFile === undefined) {
    ensureDir(dirs.logs, { mode: dirs.modes.logs }, 'log')
    // The service user owns its log directory, so that a rotation (rename +
    // reload) lets the daemon create the new file; root reads it still.
    if (paths.logDir !== undefined && creds !== undefined) ensureDir(paths.logDir, { mode: 0o750, uid: creds.uid, gid: creds.gid }, 'log')
  }
}

/** Save the spec of a named daemon that has started. Returns the spec's path. */
export function saveNamed(named: NamedLaunch): string {
  return saveSpec(named.dirs, named.name, named.options)
}

/** Release the name's lock (after the spec is saved, or the start failed). */
export function closeNamed(named: NamedLaunch): void {
  if (named.lockFd < 0) return
  closeSync(named.lockFd)
  named.lockFd = -1
}
