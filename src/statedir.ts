// Directories that hold a named daemon's pid file, spec and log: created
// when missing, and checked before use, all the way up. A directory that
// someone else could write to (or one of its parents) would let them swap
// in the file root then trusts, so each component must be a directory
// owned by root or the expected user and writable by nobody else (a sticky
// one like /tmp excepted: there nobody can rename what they do not own).
import { closeSync, constants as fsc, fchmodSync, fchownSync, fstatSync, mkdirSync, openSync, realpathSync, statSync, type Stats } from 'node:fs'
import { dirname, join, parse, sep } from 'node:path'
import { DaemonizeError, stageError, type Stage } from './errors.js'
import { describeUser, euid } from './filecheck.js'

export interface DirRule {
  /** The mode it is created with, and the most it may allow. */
  mode: number
  /** Who must own it (default: this process's euid). */
  uid?: number
  /** Group set on a directory this call creates for another user. */
  gid?: number
}

const S_ISVTX = 0o1000

function unsafe(path: string, why: string, stage: Stage, code = 'EPERM'): DaemonizeError {
  return new DaemonizeError(`directory ${path} ${why}; refusing to use it`, { stage, code, path })
}

/** An ancestor: a directory owned by root or `me`, writable by nobody else unless sticky. */
function checkAncestor(path: string, st: Stats, me: number, stage: Stage): void {
  if (!st.isDirectory()) throw unsafe(path, 'is not a directory', stage, 'ENOTDIR')
  if (st.uid !== 0 && st.uid !== me) throw unsafe(path, `is owned by ${describeUser(st.uid)}`, stage)
  if ((st.mode & 0o022) !== 0 && (st.mode & S_ISVTX) === 0) throw unsafe(path, 'is writable by group or others', stage)
}

/** The deepest existing ancestor of path, with symlinks resolved, and the components below it still to create. */
function existingBase(path: string, stage: Stage): { real: string; missing: string[] } {
  const missing: string[] = []
  let p = path
  for (;;) {
    try {
      return { real: realpathSync(p), missing }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(p) === p) throw stageError(stage, `cannot use directory ${path}`, err, path)
      missing.unshift(p.slice(dirname(p).length).replace(/^\/+/, ''))
      p = dirname(p)
    }
  }
}

/**
 * Make sure `path` is a directory we may trust, creating it (and missing
 * parents, 0755 for root, else 0700) when needed: every existing component
 * of its real path is checked (checkAncestor); the directory itself is
 * opened O_NOFOLLOW|O_DIRECTORY and its fstat must show the expected owner
 * and no more than `rule.mode`. One this call created gets its owner and
 * exact mode through the fd; an existing one of ours with looser bits is
 * tightened; another owner's is refused. Returns the path.
 */
export function ensureDir(path: string, rule: DirRule, stage: Stage): string {
  const me = euid()
  const owner = rule.uid ?? me
  const { real, missing } = existingBase(path, stage)
  let at = parse(real).root
  for (const part of real.split(sep).filter(Boolean)) {
    at = join(at, part)
    checkAncestor(at, statSync(at), me, stage)
  }
  let created = false
  for (let i = 0; i < missing.length; i++) {
    at = join(at, missing[i])
    const last = i === missing.length - 1
    try {
      mkdirSync(at, last ? rule.mode : me === 0 ? 0o755 : 0o700)
      created = last
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw stageError(stage, `cannot create directory ${at}`, err, at)
    }
    if (!last) checkAncestor(at, statSync(at), me, stage)
  }
  const dir = missing.length > 0 ? at : real
  let fd: number
  try {
    fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW)
  } catch (err) {
    throw stageError(stage, `cannot open directory ${dir}`, err, dir)
  }
  try {
    const st = fstatSync(fd)
    if (created && st.uid !== owner) fchownSync(fd, owner, rule.gid ?? -1)
    else if (st.uid !== owner) throw unsafe(dir, `is owned by ${describeUser(st.uid)}, not by ${describeUser(owner)}`, stage)
    if (created || (st.mode & 0o777 & ~rule.mode) !== 0) fchmodSync(fd, rule.mode)
  } catch (err) {
    throw err instanceof DaemonizeError ? err : stageError(stage, `cannot prepare directory ${dir}`, err, dir)
  } finally {
    closeSync(fd)
  }
  return path
}

/**
 * Check, without creating anything, that an existing `path` is a directory
 * we may trust to read from: every component of its real path as
 * checkAncestor says, and the last one owned by `owner` and writable by
 * nobody else. false when it does not exist.
 */
export function checkDir(path: string, stage: Stage, owner = euid()): boolean {
  let real: string
  try {
    real = realpathSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw stageError(stage, `cannot use directory ${path}`, err, path)
  }
  const me = euid()
  let at = parse(real).root
  for (const part of real.split(sep).filter(Boolean)) {
    at = join(at, part)
    checkAncestor(at, statSync(at), me, stage)
  }
  const st = statSync(real)
  if (st.uid !== owner) throw unsafe(path, `is owned by ${describeUser(st.uid)}, not by ${describeUser(owner)}`, stage)
  if ((st.mode & 0o022) !== 0) throw unsafe(path, 'is writable by group or others', stage)
  return true
}
