// The one check every file that names or feeds a daemon goes through
// (pid file, lock file, log file): a regular file, with one link, owned by
// the right user. A symbolic link is refused by the caller's O_NOFOLLOW; a
// hard link would let whoever made it decide what the file is; the owner of
// a pid file decides which process a stop signals.
import { constants as fsc, openSync, statSync, type Stats } from 'node:fs'
import { DaemonizeError, stageError, type Stage } from '../errors.js'
import { native } from '../native.js'

/** A regular file with one link, or a DaemonizeError saying what it is instead. */
export function checkFileShape(
  st: { isFile(): boolean; isDirectory?(): boolean; nlink: number },
  path: string,
  stage: Stage,
  what: string,
): void {
  if (st.isDirectory?.()) {
    throw new DaemonizeError(`${what} ${path} is a directory`, { stage, code: 'EISDIR', path })
  }
  if (!st.isFile()) {
    throw new DaemonizeError(`${what} ${path} is not a regular file`, { stage, code: 'EINVAL', path })
  }
  if (st.nlink !== 1) {
    throw new DaemonizeError(`${what} ${path} has ${st.nlink} links; refusing a hard-linked ${what}`, {
      stage,
      code: 'EMLINK',
      path,
    })
  }
}

/** stat(path), or a DaemonizeError at `stage` that says `message` and why. */
export function statAtStage(stage: Stage, path: string, message: string): Stats {
  try {
    return statSync(path)
  } catch (err) {
    throw stageError(stage, message, err, path)
  }
}

/** "alice (uid 1000)", or "uid 1000" for a uid without a name. */
export function describeUser(uid: number): string {
  let name: string | undefined
  try {
    name = native().lookupUser(uid)?.name
  } catch {
    name = undefined
  }
  return name ? `${name} (uid ${uid})` : `uid ${uid}`
}

/**
 * Refuse a pid file or lock file that someone other than `allowed` owns:
 * whoever owns the file that names a daemon decides which process a stop
 * signals. Another user's file in a shared directory is theirs to fill.
 */
export function checkOwner(st: { uid: number }, path: string, stage: Stage, what: string, allowed: number[]): void {
  if (allowed.includes(st.uid)) return
  const wanted = allowed.map(describeUser).join(' or ')
  throw new DaemonizeError(
    `${what} ${path} is owned by ${describeUser(st.uid)}, not by ${wanted}; refusing it (its owner could name any process in it)`,
    { stage, code: 'EPERM', path },
  )
}

export { euid, euidIsFixed } from '../proc/euid.js'

/**
 * Open for reading a file that someone else may have planted or replaced:
 * O_NOFOLLOW (a symbolic link is refused: ELOOP), O_NONBLOCK (a FIFO cannot
 * hang the reader), O_NOCTTY. undefined when it does not exist; the caller
 * still checks the fd's shape and owner (checkFileShape, checkOwner).
 */
export function openUntrusted(path: string, stage: Stage, what: string): number | undefined {
  try {
    return openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY)
  } catch (err) {
    return untrustedOpenFailed(err, path, stage, what)
  }
}

/** What the checks read of an untrusted file, as readUntrusted gives it. */
export interface UntrustedStat {
  mode: number
  uid: number
  nlink: number
  size: number
  dev: number
  ino: number
  isFile(): boolean
  isDirectory(): boolean
}

/**
 * openUntrusted, fstat and read in one addon call (native/addon/read.cc):
 * undefined when the file does not exist; else its metadata (for
 * checkFileShape and checkOwner) and, when it is a regular file, at most
 * maxBytes + 1 bytes from its start. Refusals as openUntrusted's.
 */
export function readUntrusted(path: string, stage: Stage, what: string, maxBytes: number): { st: UntrustedStat; data?: Buffer } | undefined {
  let r: ReturnType<ReturnType<typeof native>['readUntrusted']>
  try {
    r = native().readUntrusted(path, maxBytes)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).syscall !== 'open') throw stageError(stage, `cannot read ${what} ${path}`, err, path)
    return untrustedOpenFailed(err, path, stage, what)
  }
  if (r === null) return undefined
  return { st: untrustedStat(r), data: r.data }
}

/** The metadata the addon's readUntrusted gives, as the checks read it. */
export function untrustedStat(r: { mode: number; uid: number; nlink: number; size: number; dev: number; ino: number }): UntrustedStat {
  const type = r.mode & fsc.S_IFMT
  return { mode: r.mode, uid: r.uid, nlink: r.nlink, size: r.size, dev: r.dev, ino: r.ino, isFile: () => type === fsc.S_IFREG, isDirectory: () => type === fsc.S_IFDIR }
}

/** What a failed open of an untrusted file means: undefined when it does not exist, else the refusal to throw. */
export function untrustedOpenFailed(err: unknown, path: string, stage: Stage, what: string): undefined {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return undefined
  if (code === 'ELOOP') throw new DaemonizeError(`${what} ${path} is a symbolic link; refusing it`, { stage, code, path })
  // A unix socket planted there: open(2) gives ENXIO.
  if (code === 'ENXIO') throw new DaemonizeError(`${what} ${path} is not a regular file`, { stage, code: 'EINVAL', path })
  throw stageError(stage, `cannot open ${what} ${path}`, err, path)
}
