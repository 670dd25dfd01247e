// What `start` would refuse, found without starting, creating or stopping
// anything: `restart` runs this before it stops the old daemon, so a typo
// never takes the service down.
//
// Two halves. The caller's own part of a launch (options, entry, cwd, user)
// was checked when the start was resolved (start.ts), as start checks it;
// its log file is checked here, without opening or creating it. The
// daemon's part (limits, setgroups/setgid/setuid, chdir and the entry read
// as the daemon's user, an executable exec path) is run for real by the
// helper in a dry run: the same code as a launch, up to the exec, which it
// replaces by an access check before it exits.
import { accessSync, closeSync, constants as fsc, fstatSync, lstatSync, openSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { DaemonizeError, stageError } from '../errors.js'
import { checkFileShape } from '../files/checks.js'
import { openServiceDir } from '../files/state-dirs.js'
import { helperPath, native } from '../native.js'
import type { Launch } from '../options/resolve.js'
import { launchFailure } from './launch-failure-part.js'
import type { ServiceLog } from '../names/paths.js'
import { encodePlan, launchPlan } from './plan.js'
import { readHelperRecords } from './records.js'
import type { Start } from './start.js'

/**
 * Check a resolved start as start would, with no side effect: rejects with
 * the DaemonizeError start would give.
 */
export async function preflight({ launch, named }: Start): Promise<void> {
  // A name's default log (start fills it in) is checked where it will be.
  const own = named?.serviceLog
  if (own !== undefined) checkServiceLog(own, join(own.parent, own.name, own.file))
  else if (launch.logFile !== undefined && (named === undefined || named.given.logFile)) checkLogPath(launch.logFile)
  await dryRun(launch)
}

/**
 * A log in a service user's own directory, as start would find it: the
 * directory (if it is there) owned by that user with its mode, and what is
 * at the log's name in it, looked at through the directory's fd, a regular
 * file with one link (or nothing yet).
 */
function checkServiceLog(own: ServiceLog, path: string): void {
  const dirfd = openServiceDir(own, 'log')
  if (dirfd === undefined) return
  let fd: number | undefined
  try {
    fd = native().openEntryAt(dirfd, own.file)
    const st = fstatSync(fd)
    if (st.isSymbolicLink()) {
      throw new DaemonizeError(`log file ${path} is a symbolic link`, { stage: 'log', code: 'ELOOP', errno: -40, syscall: 'open', path })
    }
    checkFileShape(st, path, 'log', 'log file')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && fd === undefined) return
    throw err instanceof DaemonizeError ? err : stageError('log', 'cannot open log file', err, path)
  } finally {
    if (fd !== undefined) closeSync(fd)
    closeSync(dirfd)
  }
}

/**
 * What opening the log for a launch would refuse (see openLog in
 * log-file.ts), without opening it: an existing path must be a regular file
 * with one link, not a symbolic link, that we may write; a missing one needs
 * a directory we may create it in.
 */
function checkLogPath(path: string): void {
  let st
  try {
    st = lstatSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw stageError('log', 'cannot open log file', err, path)
    checkLogDirectory(path)
    return
  }
  if (st.isSymbolicLink()) {
    throw new DaemonizeError(`log file ${path} is a symbolic link`, { stage: 'log', code: 'ELOOP', errno: -40, syscall: 'open', path })
  }
  checkFileShape(st, path, 'log', 'log file')
  try {
    accessSync(path, fsc.W_OK)
  } catch (err) {
    throw stageError('log', 'cannot open log file', err, path)
  }
}

function checkLogDirectory(path: string): void {
  const dir = dirname(path)
  try {
    if (!statSync(dir).isDirectory()) {
      throw new DaemonizeError(`cannot open log file ${path}: ${dir} is not a directory`, {
        stage: 'log',
        code: 'ENOTDIR',
        errno: -20,
        syscall: 'open',
        path,
      })
    }
    // O_CREAT needs write and search permission there (and a writable filesystem: EROFS).
    accessSync(dir, fsc.W_OK | fsc.X_OK)
  } catch (err) {
    if (err instanceof DaemonizeError) throw err
    throw stageError('log', `cannot open log file ${path}`, err, path)
  }
}

/** The daemon's side of the launch, run by the helper up to (not including) the exec. */
async function dryRun(launch: Launch): Promise<void> {
  const { killSession, spawnHelper, waitPid } = native()
  const plan = encodePlan(launchPlan(launch, { hasLock: false, dryRun: true }))
  // The dry run's stdout/stderr: nothing may be written to the real log.
  const nullFd = openSync('/dev/null', fsc.O_WRONLY)
  let helper: { pid: number; statusFd: number }
  try {
    helper = spawnHelper(helperPath(), plan, nullFd, -1, -1)
  } catch (err) {
    throw stageError('helper', 'cannot start the helper', err)
  } finally {
    closeSync(nullFd)
  }
  const records = await readHelperRecords(helper)
  const failed = records.find((r) => r.err !== 0)
  const exec = records.find((r) => r.stage === 'exec' && r.err === 0)
  // The helper reaps its child in a dry run; if it was itself cut short,
  // nothing of the check may stay behind.
  if (failed || !exec) killSession(helper.pid)
  const end = native().decodeWaitStatus(waitPid(helper.pid))
  if (failed) throw launchFailure().failure(failed, launch, undefined)
  if (!exec || end.code !== 0) {
    throw new DaemonizeError('the helper ended before the launch could be checked', { stage: 'helper', code: 'ERR_HELPER_DIED' })
  }
}
