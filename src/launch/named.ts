// The name's part of a start (daemonize({ name })) around the launch
// itself: the name's lock, a check that the name is not already running,
// its directories, and the spec saved once the start has succeeded (so a
// refused second start never overwrites the first's). Its default pid file
// and log, resolved before: name-defaults.ts.
import { closeSync } from 'node:fs'
import { DaemonizeError } from '../errors.js'
import { ensureDir, openServiceDir } from '../files/state-dirs.js'
import { status } from '../control/status.js'
import { holdNameLock } from '../names/lock.js'
import { findSpec, saveSpec } from '../names/spec.js'
import type { NameDirs } from '../names/paths.js'
import type { LogAt } from './log-file.js'
import type { NamedStart } from './name-defaults.js'

export { nameDefaults, type NamedStart } from './name-defaults.js'

/** While a named start runs: the name's lock, and the fd of a service user's log directory. */
export interface NameHold {
  named: NamedStart
  /** The name's lock (names/lock.ts), held until the spec is saved or the start failed: releaseName(). */
  lockFd: number
  /** The log, when it is in a service user's own directory: opened there through this fd only. */
  logAt?: LogAt
}

/** A running (or starting, restarting, stopping) daemon counts as "running" for a second start. */
const LIVE_STATES = new Set(['running', 'starting', 'restarting', 'stopping'])

/**
 * Take the name for a start: its lock (held from the check on), a refusal
 * when the daemon of that name runs (whatever pid file its spec names), and
 * the directories of its default pid file and log (checked, see
 * files/state-dirs.ts). The caller ends with releaseName().
 */
export async function holdName(named: NamedStart): Promise<NameHold> {
  const { name, dirs } = named
  ensureDir(dirs.specs, { mode: dirs.modes.specs }, 'spec')
  const lockFd = await holdNameLock(dirs.specs, name)
  try {
    checkNotRunning(name, dirs)
    return { named, lockFd, logAt: prepareDirs(named) }
  } catch (err) {
    closeSync(lockFd)
    throw err
  }
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

function prepareDirs({ dirs, serviceLog, given }: NamedStart): LogAt | undefined {
  if (!given.pidFile) ensureDir(dirs.run, { mode: dirs.modes.run }, 'pidfile')
  // The service user owns its log directory, so that a rotation (rename +
  // reload) lets the daemon create the new file; root reads it still. It is
  // made, or checked, whether the log path came from the defaults or from a
  // saved spec (a restart), and the log is opened in it by its fd.
  if (serviceLog !== undefined) {
    const dirfd = openServiceDir(serviceLog, 'log', { mode: dirs.modes.logs }) as number
    return { dirfd, name: serviceLog.file }
  }
  if (!given.logFile) ensureDir(dirs.logs, { mode: dirs.modes.logs }, 'log')
  return undefined
}

/** Save the spec of a named daemon that has started. Returns the spec's path. */
export function saveNamed(hold: NameHold): string {
  return saveSpec(hold.named.dirs, hold.named.name, hold.named.options)
}

/** Release the name's lock (after the spec is saved, or the start failed). */
export function releaseName(hold: NameHold): void {
  if (hold.logAt !== undefined) closeSync(hold.logAt.dirfd)
  hold.logAt = undefined
  if (hold.lockFd < 0) return
  closeSync(hold.lockFd)
  hold.lockFd = -1
}
