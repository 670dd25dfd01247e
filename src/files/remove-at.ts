// Removing known files through directory fds (remove NAME): each entry is
// looked at by its one name in a directory fd that was checked
// (openEntryAt: O_PATH|O_NOFOLLOW, so a symbolic link is seen as one and
// never followed), and unlinked by that name only when it is a regular file
// with one link and a known owner. A directory is removed only when empty,
// by rmdir: nothing is ever removed recursively. In a directory another
// user owns (a service user's log directory) that user could swap the entry
// between the look and the unlink, but only for another entry of its own
// directory, which it may remove itself: nothing outside it is reached.
import { closeSync, fstatSync } from 'node:fs'
import { join } from 'node:path'
import { stageError, type Stage } from '../errors.js'
import { describeUser } from './checks.js'
import { native } from '../native.js'

/** What a removal did: the paths removed, and those left with why. */
export interface Removals {
  removed: string[]
  left: { path: string; why: string }[]
}

/**
 * Unlink the entry `name` of `dirfd` (the directory `dirPath`) when it is a
 * regular file with one link owned by one of `owners`; otherwise leave it
 * and say why in `out.left`. Nothing there: nothing done.
 */
export function unlinkKnownFile(dirfd: number, dirPath: string, name: string, owners: number[], stage: Stage, out: Removals): void {
  const path = join(dirPath, name)
  const n = native()
  let fd: number
  try {
    fd = n.openEntryAt(dirfd, name)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw stageError(stage, `cannot open ${path}`, err, path)
  }
  let why: string | undefined
  try {
    const st = fstatSync(fd)
    if (st.isSymbolicLink()) why = 'it is a symbolic link (never followed)'
    else if (!st.isFile()) why = 'it is not a regular file'
    else if (st.nlink !== 1) why = `it has ${st.nlink} links`
    else if (!owners.includes(st.uid)) why = `it is owned by ${describeUser(st.uid)}`
  } finally {
    closeSync(fd)
  }
  if (why !== undefined) {
    out.left.push({ path, why })
    return
  }
  try {
    n.unlinkAt(dirfd, name, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw stageError(stage, `cannot remove ${path}`, err, path)
  }
  out.removed.push(path)
}

/** rmdir the entry `name` of `parentFd` when it is an empty directory; left (and why) when it is not empty. */
export function removeDirIfEmpty(parentFd: number, parentPath: string, name: string, stage: Stage, out: Removals): void {
  const path = join(parentPath, name)
  try {
    native().rmdirAt(parentFd, name, path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      out.left.push({ path, why: 'it is not empty (what else is in it was not looked at)' })
      return
    }
    throw stageError(stage, `cannot remove directory ${path}`, err, path)
  }
  out.removed.push(path)
}
