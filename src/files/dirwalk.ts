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
import { closeSync, constants as fsc, fstatSync, openSync, type Stats } from 'node:fs'
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

/** An ancestor: a directory owned by root or `me`, writable by nobody else unless sticky. */
export function checkAncestor(path: string, st: Stats, me: number, stage: Stage): void {
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
  checkLast?: (st: Stats, path: string, created: boolean) => void
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

interface Step {
  fd: number
  name: string
}

function shown(stack: Step[], name?: string): string {
  const parts = stack.slice(1).map((s) => s.name)
  if (name !== undefined) parts.push(name)
  return `/${parts.join('/')}`
}

/** A symbolic link's target as components, refused when it is not UTF-8 (its names could not be given back to the kernel as they are). */
function linkTarget(fd: number, path: string, stage: Stage): { absolute: boolean; parts: string[] } {
  let raw: Buffer
  try {
    raw = native().readLinkAt(fd)
  } catch (err) {
    throw stageError(stage, `cannot read the symbolic link ${path}`, err, path)
  }
  const text = raw.toString('utf8')
  if (!Buffer.from(text, 'utf8').equals(raw)) throw unsafeDir(path, 'is a symbolic link to a name that is not UTF-8', stage, 'EINVAL')
  return { absolute: text.startsWith('/'), parts: text.split('/').filter((p) => p !== '' && p !== '.') }
}

/**
 * Open the directory `path` (absolute) from `/`, one component at a time
 * (see above). Every directory on the way must pass the ancestor rule, the
 * last one `checkLast` (default: the same rule). undefined only with
 * allowMissing, when a directory on the way does not exist.
 */
export function walkDir(path: string, opts: WalkOptions): WalkedDir | undefined {
  const { stage } = opts
  const n = native()
  const me = euid()
  const todo = path.split('/').filter((p) => p !== '' && p !== '.')
  const stack: Step[] = []
  let links = 0
  let created = false
  try {
    try {
      stack.push({ fd: openSync('/', fsc.O_RDONLY | fsc.O_DIRECTORY), name: '' })
    } catch (err) {
      throw stageError(stage, 'cannot open directory /', err, '/')
    }
    while (todo.length > 0) {
      const part = todo.shift() as string
      if (part === '..') {
        // The physical parent: the step before, from which this one was opened.
        if (stack.length > 1) closeSync((stack.pop() as Step).fd)
        continue
      }
      const top = stack[stack.length - 1]
      const here = shown(stack, part)
      const last = todo.length === 0
      let fd: number
      let made = false
      try {
        fd = n.openEntryAt(top.fd, part)
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code === 'ENOENT' && opts.create !== undefined) {
          try {
            made = n.mkdirAt(top.fd, part, last ? opts.create.last : opts.create.between)
            fd = n.openEntryAt(top.fd, part)
          } catch (e) {
            throw stageError(stage, `cannot create directory ${here}`, e, here)
          }
        } else if (code === 'ENOENT' && opts.allowMissing) {
          return undefined
        } else {
          throw stageError(stage, `cannot open directory ${here}`, err, here)
        }
      }
      let st: Stats
      try {
        st = fstatSync(fd)
        if (st.isSymbolicLink()) {
          if (st.uid !== 0 && st.uid !== me) throw unsafeDir(here, `is a symbolic link owned by ${describeUser(st.uid)}`, stage)
          if (++links > MAX_LINKS) throw unsafeDir(path, `has more than ${MAX_LINKS} symbolic links on its way`, stage, 'ELOOP')
          const target = linkTarget(fd, here, stage)
          closeSync(fd)
          if (target.absolute) while (stack.length > 1) closeSync((stack.pop() as Step).fd)
          todo.unshift(...target.parts)
          continue
        }
        if (!st.isDirectory()) throw unsafeDir(here, 'is not a directory', stage, 'ENOTDIR')
        // The last one is checked once the walk has ended: a link there still leads on.
        if (!last) checkAncestor(here, st, me, stage)
      } catch (err) {
        closeSync(fd)
        throw err
      }
      stack.push({ fd, name: part })
      created = made && last
    }
    const at = stack[stack.length - 1]
    const where = shown(stack)
    const st = fstatSync(at.fd)
    if (opts.checkLast) opts.checkLast(st, where, created)
    else checkAncestor(where, st, me, stage)
    let fd = at.fd
    if (opts.readable && stack.length > 1) fd = reopenReadable(stack[stack.length - 2].fd, at.name, st, where, stage)
    else stack.pop()
    return { fd, path: where, created }
  } finally {
    for (const s of stack) closeSync(s.fd)
  }
}

/** The directory `name` in dirfd again, O_RDONLY: it must be the one just checked (same device and inode). */
function reopenReadable(dirfd: number, name: string, want: Stats, path: string, stage: Stage): number {
  let fd: number
  try {
    fd = native().openAt(dirfd, name, fsc.O_RDONLY | fsc.O_DIRECTORY, 0, path)
  } catch (err) {
    throw stageError(stage, `cannot open directory ${path}`, err, path)
  }
  const st = fstatSync(fd)
  if (st.dev !== want.dev || st.ino !== want.ino) {
    closeSync(fd)
    throw unsafeDir(path, 'was replaced while it was opened', stage, 'EAGAIN')
  }
  return fd
}

/**
 * The directory of a file root is about to read that another user may own
 * (a service's log directory): every directory above it by the ancestor
 * rule; itself by that rule, or owned by one user and writable by no one
 * else (no group or other write, sticky or not: in a sticky one anybody
 * could put a file of that name there) — and, when `owner` is given (the
 * service user a record names), owned by that user and no other.
 */
function checkReadDir(stage: Stage, owner?: number): (st: Stats, path: string) => void {
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
