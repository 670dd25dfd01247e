// remove NAME [--logs]: stop the named daemon if it runs (stop's protocol,
// the lock-holder rule included), then forget the name: its spec, pid file,
// state file, lock files and, with logs, its log (and its per-name log
// directory once empty), so that list no longer shows it.
//
// The name's lock (NAME.lock, which start NAME holds from its "already
// running?" check until its spec is saved) is held from before the spec is
// read until the last file is gone, and the pid file's lock from the end of
// the stop to the end of the removal: a concurrent start NAME waits, then
// starts afresh and saves its spec; it can never end up running with no
// spec. Every directory is opened and checked before anything is stopped
// (a refusal changes nothing); each file is then removed by its one known
// name through that directory's fd (files/remove-at.ts).
import { closeSync, constants as fsc, fstatSync } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { DaemonizeError, stageError, type Stage } from '../errors.js'
import { checkFileShape, checkOwner, describeUser, euid } from '../files/checks.js'
import { walkDir, unsafeDir } from '../files/dirwalk.js'
import { lockPathOf } from '../files/pidfile-read.js'
import { removeDirIfEmpty, unlinkKnownFile, type Removals } from '../files/remove-at.js'
import { openServiceDirAt } from '../files/state-dirs.js'
import { statePathOf } from '../files/state-file.js'
import { stop } from '../control/stop.js'
import { native } from '../native.js'
import { resolveCredentials } from '../options/user.js'
import { holdNameLock, nameLockPath } from './lock.js'
import { checkName, nameDirs, type NameDirs, serviceLogOf } from './paths.js'
import { findSpec, noSuchName, type LoadedSpec } from './spec.js'

export interface RemoveOptions {
  /** Remove its log file too (and its per-name log directory when that is then empty). */
  logs?: boolean
}

export interface RemoveResult {
  name: string
  /** A daemon of the name was running, and was stopped. */
  wasRunning: boolean
  /** The stopped daemon's pid (under a supervisor: the supervisor's). */
  pid?: number
  /** What the stop said. */
  stopped: string
  /** Every path removed. */
  removed: string[]
  /** What was left, and why (a log that is a symbolic link, a log directory that is not empty, ...). */
  left: { path: string; why: string }[]
  message: string
}

const STAGE: Stage = 'remove'

/** A checked directory fd (walkDir's rule), or undefined when the directory does not exist. */
interface OpenDir {
  fd: number
  path: string
}

/** Where a name's log is, opened: its directory, and for a service user's own directory the parent it is in. */
interface LogDirs {
  dir: OpenDir
  file: string
  owners: number[]
  /** A service user's per-name directory: removed from `parent` when empty. */
  parent?: OpenDir
}

function openDir(path: string, checkLast?: Parameters<typeof walkDir>[1]['checkLast']): OpenDir | undefined {
  const walked = walkDir(path, { stage: STAGE, allowMissing: true, checkLast })
  return walked === undefined ? undefined : { fd: walked.fd, path }
}

/** The specs directory: ours, writable by nobody else (the rule a spec is read under). */
function openSpecsDir(dirs: NameDirs, name: string): OpenDir {
  const me = euid()
  const dir = openDir(dirs.specs, (st, at) => {
    if (st.uid !== me) throw unsafeDir(at, `is owned by ${describeUser(st.uid)}, not by ${describeUser(me)}`, STAGE)
    if ((st.mode & 0o022) !== 0) throw unsafeDir(at, 'is writable by group or others', STAGE)
  })
  if (dir === undefined) throw noSuchName(name, dirs)
  return dir
}

/**
 * The log's directory: a service user's own (root's standard directories,
 * its user's, mode 0750, as start made it), or any other by the ancestor
 * rule (owned by root or the caller, writable by nobody else unless sticky).
 */
function openLogDirs(spec: LoadedSpec, dirs: NameDirs, opened: number[]): LogDirs | undefined {
  const { logFile, user, group } = spec.options
  if (logFile === undefined) return undefined
  const credentials = dirs.system && user !== undefined ? resolveCredentials(user, group) : undefined
  const service = serviceLogOf(spec.name, logFile, dirs, credentials)
  if (service === undefined) {
    const dir = openDir(dirname(resolve(logFile)))
    if (dir === undefined) return undefined
    opened.push(dir.fd)
    return { dir, file: basename(logFile), owners: [...new Set([euid(), credentials?.uid ?? euid()])] }
  }
  const parent = openDir(service.parent)
  if (parent === undefined) return undefined
  opened.push(parent.fd)
  const fd = openServiceDirAt(parent.fd, service, STAGE)
  if (fd === undefined) return undefined
  opened.push(fd)
  return { dir: { fd, path: resolve(service.parent, service.name) }, file: service.file, owners: [service.uid], parent }
}

/**
 * Take the pid file's lock (creating its lock file in the checked directory
 * if the stop removed it), so that nothing starts on that pid file while its
 * files go. A lock held again since the stop (a start with the same
 * --pid-file, or a child that inherited the daemon's lock) is an EBUSY
 * refusal: the name is kept.
 */
function holdPidLock(dir: OpenDir, pidFile: string, name: string): number {
  const lockPath = lockPathOf(pidFile)
  let fd: number
  try {
    fd = native().openAt(dir.fd, basename(lockPath), fsc.O_RDWR | fsc.O_CREAT | fsc.O_NONBLOCK, 0o600, lockPath)
  } catch (err) {
    throw stageError(STAGE, 'cannot open the lock file', err, lockPath)
  }
  try {
    const st = fstatSync(fd)
    checkFileShape(st, lockPath, STAGE, 'lock file')
    checkOwner(st, lockPath, STAGE, 'lock file', [euid()])
    if (!native().lockFile(fd)) {
      throw new DaemonizeError(`lock file ${lockPath} is locked again since the stop (a start with --pid-file ${pidFile}, or a process that inherited the daemon's lock); ${name} was not removed`, {
        stage: STAGE,
        code: 'EBUSY',
        path: lockPath,
      })
    }
    return fd
  } catch (err) {
    closeSync(fd)
    throw err
  }
}

/**
 * Stop the named daemon of this user (root: the system's) if it runs, then
 * forget the name (see above). Rejects with a DaemonizeError: ENOENT (stage
 * 'spec') for a name that has no spec, EPERM for one that is not this
 * user's, stop's errors (then nothing was removed), EBUSY when its pid
 * file's lock was taken again after the stop.
 */
export async function removeName(name: string, options: RemoveOptions = {}): Promise<RemoveResult> {
  checkName(name)
  const dirs = nameDirs()
  // Refused before anything is made (the name lock is a file): no spec, or not ours.
  if (findSpec(name, dirs) === undefined) throw noSuchName(name, dirs)
  const nameLock = await holdNameLock(dirs.specs, name)
  const opened: number[] = []
  try {
    // Read again under the lock: a remove that ran meanwhile took it.
    const spec = findSpec(name, dirs)
    if (spec === undefined) throw noSuchName(name, dirs)
    const pidFile = spec.options.pidFile
    if (pidFile === undefined) throw new DaemonizeError(`the spec of ${name} names no pid file`, { stage: 'spec', code: 'EINVAL', path: spec.specPath })
    // Every directory, checked before anything is stopped or removed.
    const specsDir = openSpecsDir(dirs, name)
    opened.push(specsDir.fd)
    const pidDir = openDir(dirname(pidFile))
    if (pidDir !== undefined) opened.push(pidDir.fd)
    const logs = options.logs ? openLogDirs(spec, dirs, opened) : undefined

    const stopped = await stop(pidFile)
    const pidLock = pidDir === undefined ? undefined : holdPidLock(pidDir, pidFile, name)
    const out: Removals = { removed: [], left: [] }
    try {
      // The pid file first (a lock file without one reads as nothing at all), then the spec: list forgets it.
      if (pidDir !== undefined) {
        for (const p of [pidFile, statePathOf(pidFile)]) unlinkKnownFile(pidDir.fd, pidDir.path, basename(p), [euid()], STAGE, out)
      }
      unlinkKnownFile(specsDir.fd, specsDir.path, basename(spec.specPath), [euid()], STAGE, out)
      if (logs !== undefined) {
        unlinkKnownFile(logs.dir.fd, logs.dir.path, logs.file, logs.owners, STAGE, out)
        if (logs.parent !== undefined) removeDirIfEmpty(logs.parent.fd, logs.parent.path, basename(logs.dir.path), STAGE, out)
      }
      // The locks last, each unlinked while held: a start that opened one meanwhile finds it gone once it gets the lock, and opens it again.
      if (pidDir !== undefined) unlinkKnownFile(pidDir.fd, pidDir.path, basename(lockPathOf(pidFile)), [euid()], STAGE, out)
      unlinkKnownFile(specsDir.fd, specsDir.path, basename(nameLockPath(dirs.specs, name)), [euid()], STAGE, out)
    } finally {
      if (pidLock !== undefined) closeSync(pidLock)
    }
    const left = out.left.map((l) => `; left ${l.path}: ${l.why}`).join('')
    return {
      name,
      wasRunning: stopped.wasRunning,
      ...(stopped.pid !== undefined && stopped.wasRunning ? { pid: stopped.pid } : {}),
      stopped: stopped.message,
      removed: out.removed,
      left: out.left,
      message: `removed ${name}${stopped.wasRunning ? ` (${stopped.message})` : ''}${left}`,
    }
  } finally {
    for (const fd of opened) closeSync(fd)
    closeSync(nameLock)
  }
}
