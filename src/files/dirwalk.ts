// Directories reached through fds, one component at a time, each opened by
// its name in the one before and checked before the next is looked up:
// what is checked is what is used, and no later lookup of a path can be
// steered elsewhere. The state directories, the directory of a unix socket
// and the directory of a log root reads all come through here.
//
// The rule for a directory on the way (an ancestor): owned by root or the
// caller, writable by nobody else unless sticky (in /tmp nobody can rename
// what they do not own). A symbolic link is followed only when root or the
// caller owns it: it sits in a directory that passed the rule, so nobody
// else could have put it there (in a sticky one, only its owner can
// replace it, and it is refused when that is someone else). /var/run ->
// /run works; a link the service user planted in a directory it can write
// is never reached, because that directory is refused first.
import { closeSync, constants as fsc } from 'node:fs'
import { basename, dirname } from 'node:path'
import { DaemonizeError, stageError, type Stage } from '../errors.js'
import { describeUser, euid, untrustedOpenFailed } from './checks.js'
import { native } from '../native.js'

const S_ISVTX = 0o1000
/** Symbolic links followed in one walk at most: the kernel's own limit (MAXSYMLINKS). */
const MAX_LINKS = 40

export function unsafeDir(path: string, why: string, stage: Stage, code = 'EPERM'): DaemonizeError {
  return new DaemonizeError(`directory ${path} ${why}; refusing to use it`, { stage, code, path })
}

/** What the rule reads of a directory: Node's Stats, or the walk's own fields. */
export interface DirStat {
  uid: number
  mode: number
  dev: number
  ino: number
  isDirectory(): boolean
}

/** An ancestor: a directory owned by root or `me`, writable by nobody else unless sticky. */
export function checkAncestor(path: string, st: DirStat, me: number, stage: Stage): void {
  if (!st.isDirectory()) throw unsafeDir(path, 'is not a directory', stage, 'ENOTDIR')
  if (st.uid !== 0 && st.uid !== me) throw unsafeDir(path, `is owned by ${describeUser(st.uid)}`, stage)
  if ((st.mode & 0o022) !== 0 && (st.mode & S_ISVTX) === 0) throw unsafeDir(path, 'is writable by group or others', stage)
}

export interface WalkOptions {
  stage: Stage
  /** Make missing directories: the ones on the way with `between`, the last with `last` (then chmod/chown it yourself). */
  create?: { between: number; last: number }
  /** A missing directory (no create): undefined instead of an ENOENT error. */
  allowMissing?: boolean
  /** The last directory's check, instead of the ancestor rule. `created`: this walk made it. */
  checkLast?: (st: DirStat, path: string, created: boolean) => void
  /** Open the last directory O_RDONLY (for fchmod, fchown), not O_PATH. */
  readable?: boolean
}

export interface WalkedDir {
  /** The directory: O_PATH, or O_RDONLY with `readable`. The caller closes it. */
  fd: number
  /** Its path with every symbolic link resolved, for messages. */
  path: string
  /** This walk made it. */
  created: boolean
}

/** What the addon's walk gives back (native/addon/walk.cc). */
type WalkResult =
  | { fail?: undefined; fd: number; path: string; created: boolean; mode: number; uid: number; dev: number; ino: number }
  | { fail: 'root' | 'open' | 'create' | 'stat' | 'readlink'; at: string; error: Error }
  | { fail: 'missing'; at: string }
  | { fail: 'loop' | 'not-utf8' | 'not-dir' | 'replaced'; at: string }
  | { fail: 'link-owner' | 'owner' | 'writable'; at: string; uid: number }

/** The error a failed walk stands for, said as it always was. */
function walkError(r: Exclude<WalkResult, { fail?: undefined } | { fail: 'missing' }>, stage: Stage): Error {
  switch (r.fail) {
    case 'root':
    case 'open':
      return stageError(stage, `cannot open directory ${r.at}`, r.error, r.at)
    case 'create':
      return stageError(stage, `cannot create directory ${r.at}`, r.error, r.at)
    case 'readlink':
      return stageError(stage, `cannot read the symbolic link ${r.at}`, r.error, r.at)
    case 'stat':
      return r.error
    case 'loop':
      return unsafeDir(r.at, `has more than ${MAX_LINKS} symbolic links on its way`, stage, 'ELOOP')
    case 'not-utf8':
      return unsafeDir(r.at, 'is a symbolic link to a name that is not UTF-8', stage, 'EINVAL')
    case 'not-dir':
      return unsafeDir(r.at, 'is not a directory', stage, 'ENOTDIR')
    case 'replaced':
      return unsafeDir(r.at, 'was replaced while it was opened', stage, 'EAGAIN')
    case 'link-owner':
      return unsafeDir(r.at, `is a symbolic link owned by ${describeUser(r.uid)}`, stage)
    case 'owner':
      return unsafeDir(r.at, `is owned by ${describeUser(r.uid)}`, stage)
    case 'writable':
      return unsafeDir(r.at, 'is writable by group or others', stage)
  }
}

/**
 * Open the directory `path` (absolute) from `/`, one component at a time
 * (see above; the addon's walkDir does the walking: native/addon/walk.cc).
 * Every directory on the way must pass the ancestor rule, the last one
 * `checkLast` (default: the same rule). undefined only with allowMissing,
 * when a directory on the way does not exist.
 */
export function walkDir(path: string, opts: WalkOptions): WalkedDir | undefined {
  const { stage } = opts
  const me = euid()
  const flags = (opts.create ? 1 : 0) | (opts.allowMissing ? 2 : 0) | (opts.readable ? 4 : 0)
  const r = native().walkDir(path, me, flags, opts.create?.between ?? 0, opts.create?.last ?? 0) as WalkResult
  // ('missing' only comes with allowMissing and no create: the addon creates what is missing, or opens it and fails)
  if (r.fail === 'missing') return undefined
  if (r.fail !== undefined) throw walkError(r, stage)
  const st: DirStat = { uid: r.uid, mode: r.mode, dev: r.dev, ino: r.ino, isDirectory: () => (r.mode & fsc.S_IFMT) === fsc.S_IFDIR }
  try {
    if (opts.checkLast) opts.checkLast(st, r.path, r.created)
    else checkAncestor(r.path, st, me, stage)
  } catch (err) {
    closeSync(r.fd)
    throw err
  }
  return { fd: r.fd, path: r.path, created: r.created }
}

/**
 * The directory of a file root is about to read that another user may own
 * (a service's log directory): every directory above it by the ancestor
 * rule; itself by that rule, or owned by one user and writable by no one
 * else (no group or other write, sticky or not: in a sticky one anybody
 * could put a file of that name there) — and, when `owner` is given (the
 * service user a record names), owned by that user and no other.
 */
function checkReadDir(stage: Stage, owner?: number): (st: DirStat, path: string) => void {
  const me = euid()
  return (st, path) => {
    if (st.uid === 0 || st.uid === me) checkAncestor(path, st, me, stage)
    else if (owner !== undefined && st.uid !== owner) throw unsafeDir(path, `is owned by ${describeUser(st.uid)}, not by the service's user (${describeUser(owner)})`, stage)
    else if ((st.mode & 0o022) !== 0) throw unsafeDir(path, `is owned by ${describeUser(st.uid)} and writable by group or others`, stage)
  }
}

/**
 * Open for reading a file that someone else may have planted or replaced,
 * in a directory another user may own: the directory through walkDir (see
 * checkReadDir), then the file by openat from that fd, O_RDONLY|O_NOFOLLOW
 * (a symbolic link is refused: ELOOP)|O_NONBLOCK (a FIFO cannot hang the
 * reader)|O_NOCTTY, as openUntrusted does by path. undefined when it or its
 * directory does not exist; the caller still checks the fd's shape
 * (checkFileShape). `owner`: the only user besides root and the caller
 * the directory may belong to (see checkReadDir).
 */
export function openUntrustedIn(path: string, stage: Stage, what: string, owner?: number): number | undefined {
  const dir = walkDir(dirname(path), { stage, allowMissing: true, checkLast: checkReadDir(stage, owner) })
  if (dir === undefined) return undefined
  try {
    return native().openAt(dir.fd, basename(path), fsc.O_RDONLY | fsc.O_NONBLOCK, 0, path)
  } catch (err) {
    return untrustedOpenFailed(err, path, stage, what)
  } finally {
    closeSync(dir.fd)
  }
}
