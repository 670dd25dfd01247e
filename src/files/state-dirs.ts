// Directories that hold a named daemon's pid file, spec and log: created
// when missing, and checked before use, all the way up. A directory that
// someone else could write to (or one of its parents) would let them swap
// in the file root then trusts, so each component must be a directory
// owned by root or the expected user and writable by nobody else (a sticky
// one like /tmp excepted: there nobody can rename what they do not own).
// Each is reached through the fd of the one before (dirwalk.ts).
//
// One kind is owned by someone else by design: root's per-name log
// directory of a daemon run as a service user (openServiceDir), which that
// user owns so that it can create its log after a rotation. Root never
// uses a path inside it: only the fd this module hands out.
import { closeSync, constants as fsc, fchmodSync, fchownSync, fstatSync, type Stats } from 'node:fs'
import { join } from 'node:path'
import { unsafeDir, walkDir, type WalkedDir } from './dirwalk.js'
import { DaemonizeError, stageError, type Stage } from '../errors.js'
import { describeUser, euid } from './checks.js'
import { native } from '../native.js'

export interface DirRule {
  /** The mode it is created with, and the most it may allow. */
  mode: number
}

/**
 * Make sure `path` is a directory we may trust, creating it (and missing
 * parents, 0755 for root, else 0700) when needed: every directory on the
 * way is checked as it is opened (dirwalk.ts); the last must be ours and is
 * opened O_RDONLY|O_DIRECTORY|O_NOFOLLOW. One this call created gets its
 * exact mode through the fd; an existing one with looser bits is
 * tightened; another owner's is refused. Returns the fd (the caller closes it).
 */
export function openEnsuredDir(path: string, rule: DirRule, stage: Stage): number {
  const me = euid()
  const dir = walkDir(path, {
    stage,
    create: { between: me === 0 ? 0o755 : 0o700, last: rule.mode },
    readable: true,
    checkLast: (st, at) => {
      if (st.uid !== me) throw unsafeDir(at, `is owned by ${describeUser(st.uid)}, not by ${describeUser(me)}`, stage)
    },
  }) as WalkedDir
  try {
    const st = fstatSync(dir.fd)
    if (dir.created || (st.mode & 0o777 & ~rule.mode) !== 0) fchmodSync(dir.fd, rule.mode)
  } catch (err) {
    closeSync(dir.fd)
    throw stageError(stage, `cannot prepare directory ${dir.path}`, err, dir.path)
  }
  return dir.fd
}

/** openEnsuredDir, closed again. Returns the path. */
export function ensureDir(path: string, rule: DirRule, stage: Stage): string {
  closeSync(openEnsuredDir(path, rule, stage))
  return path
}

/**
 * Check, without creating anything, that an existing `path` is a directory
 * we may trust to read from: every directory on the way as the state rule
 * says, and the last one owned by `owner` and writable by nobody else.
 * false when it does not exist.
 */
export function checkDir(path: string, stage: Stage, owner = euid()): boolean {
  const dir = walkDir(path, {
    stage,
    allowMissing: true,
    checkLast: (st, at) => {
      if (st.uid !== owner) throw unsafeDir(at, `is owned by ${describeUser(st.uid)}, not by ${describeUser(owner)}`, stage)
      if ((st.mode & 0o022) !== 0) throw unsafeDir(at, 'is writable by group or others', stage)
    },
  })
  if (dir === undefined) return false
  closeSync(dir.fd)
  return true
}

/** The mode a service user's directory is made with: it writes there (its log, a rotation's new one), its group and root read. */
export const SERVICE_DIR_MODE = 0o750

/** A directory that belongs to a service user (openServiceDir): `name` in `parent`. */
export interface ServiceDir {
  /** The checked directory the service's directory is in (root's: the standard log directory). */
  parent: string
  name: string
  /** The user it must belong to: the service's recorded --user (or the caller, without one). */
  uid: number
  /** Its group when this call makes it. */
  gid: number
}

/** The rule, said in every refusal. */
function serviceRule(uid: number): string {
  return `a service's own directory must belong to its user, ${describeUser(uid)}, with mode 0${SERVICE_DIR_MODE.toString(8)} (as it was made)`
}

/** Owned by the service's user, with exactly the mode it was made with. */
function checkServiceDir(st: Stats, path: string, uid: number, stage: Stage): void {
  const mode = st.mode & 0o7777
  if (st.uid === uid && mode === SERVICE_DIR_MODE) return
  throw new DaemonizeError(
    `directory ${path} is owned by ${describeUser(st.uid)} with mode 0${mode.toString(8)}, but ${serviceRule(uid)}; refusing to use it`,
    { stage, code: 'EPERM', path },
  )
}

/**
 * The service user's own directory `dir.name` in `dir.parent`, as an fd
 * (O_RDONLY|O_DIRECTORY, opened with O_NOFOLLOW from the parent's checked
 * fd): made (0750, then given to the user through the fd) when missing,
 * with `create`; an existing one must belong to dir.uid with mode 0750, nothing
 * else. The parent is ensured with the rule `create` gives, or (without
 * one) only checked as a state directory. undefined when it does not exist
 * and not `create`. Everything root does in it goes through this fd
 * (openat, never a path): the user controls what is in it.
 */
export function openServiceDir(dir: ServiceDir, stage: Stage, create?: DirRule): number | undefined {
  let parentFd: number
  if (create !== undefined) {
    parentFd = openEnsuredDir(dir.parent, create, stage)
  } else {
    const walked = walkDir(dir.parent, { stage, allowMissing: true })
    if (walked === undefined) return undefined
    parentFd = walked.fd
  }
  try {
    return openServiceDirAt(parentFd, dir, stage, create)
  } finally {
    closeSync(parentFd)
  }
}

/**
 * openServiceDir, in a parent the caller has opened and checked already
 * (`parentFd`, which it keeps): for a caller that acts on the directory's
 * entry in the parent too (remove's rmdir of an emptied one).
 */
export function openServiceDirAt(parentFd: number, dir: ServiceDir, stage: Stage, create?: DirRule): number | undefined {
  const path = join(dir.parent, dir.name)
  const n = native()
  let made = false
  try {
    if (create !== undefined) made = n.mkdirAt(parentFd, dir.name, SERVICE_DIR_MODE)
  } catch (err) {
    throw stageError(stage, `cannot create directory ${path}`, err, path)
  }
  let fd: number
  try {
    fd = n.openAt(parentFd, dir.name, fsc.O_RDONLY | fsc.O_DIRECTORY, 0, path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' && create === undefined) return undefined
    if (code === 'ELOOP') throw unsafeDir(path, `is a symbolic link, but ${serviceRule(dir.uid)}`, stage, 'ELOOP')
    if (code === 'ENOTDIR') throw unsafeDir(path, 'is not a directory', stage, 'ENOTDIR')
    throw stageError(stage, `cannot open directory ${path}`, err, path)
  }
  try {
    if (made) {
      // Root's until now, 0750 (with the umask's bits off): the user's from here.
      fchownSync(fd, dir.uid, dir.gid)
      fchmodSync(fd, SERVICE_DIR_MODE)
    } else {
      checkServiceDir(fstatSync(fd), path, dir.uid, stage)
    }
  } catch (err) {
    closeSync(fd)
    throw err instanceof DaemonizeError ? err : stageError(stage, `cannot prepare directory ${path}`, err, path)
  }
  return fd
}
