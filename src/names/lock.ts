// Starts of one name take turns. Each pid file has its own lock, so two
// starts of the same name with different explicit pid files would both pass
// the "already running" check and both save a spec; holding
// `<specs>/<name>.lock` from that check until the spec is saved makes the
// second start see the first one's spec, and refuse. A remove of the name
// holds it too, until the spec and this lock file are gone.
// (Node opens every file close-on-exec: no helper or daemon inherits it.)
import { closeSync, constants as fsc, fstatSync, openSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { delay } from '../delay.js'
import { DaemonizeError, stageError } from '../errors.js'
import { checkFileShape, checkOwner, euid } from '../files/checks.js'
import { native } from '../native.js'

/** How long a start waits for another start of the same name to finish. */
export const NAME_LOCK_WAIT_MS = 60_000

export function nameLockPath(specsDir: string, name: string): string {
  return join(specsDir, `${name}.lock`)
}

/**
 * Open and lock the name's lock file (in the checked specs directory; a
 * regular file with one link, owned by this user, never followed if a
 * symbolic link), waiting through the event loop while another start (or a
 * remove) of the name holds it; the lock counts only on the file still at
 * the path once it is held. Returns the fd: closing it releases the lock.
 */
export async function holdNameLock(specsDir: string, name: string, waitMs = NAME_LOCK_WAIT_MS): Promise<number> {
  const path = nameLockPath(specsDir, name)
  const end = Date.now() + waitMs
  for (;;) {
    const fd = await lockOnce(path, name, end, waitMs)
    // A remove of the name unlinks the lock file while it holds it: a start
    // that opened that file before it was unlinked gets its lock once the
    // remove ends, on a file no one else will ever open. Only the file at
    // the path counts; else open it again (a new one, or the next holder's).
    let now
    try {
      now = statSync(path)
    } catch {
      now = undefined
    }
    const st = fstatSync(fd)
    if (now !== undefined && now.dev === st.dev && now.ino === st.ino) return fd
    closeSync(fd)
  }
}

/** Open (creating it) and lock the file at `path`, waiting until `end` while another holds it. */
async function lockOnce(path: string, name: string, end: number, waitMs: number): Promise<number> {
  let fd: number
  try {
    fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_NOFOLLOW | fsc.O_NONBLOCK, 0o600)
  } catch (err) {
    throw stageError('name', `cannot open the lock of name ${name}`, err, path)
  }
  try {
    const st = fstatSync(fd)
    checkFileShape(st, path, 'name', 'name lock')
    checkOwner(st, path, 'name', 'name lock', [euid()])
    for (let step = 5; !native().lockFile(fd); step = Math.min(step * 2, 100)) {
      if (Date.now() >= end) {
        throw new DaemonizeError(`another start of ${name} has held ${path} for ${waitMs / 1000} s; giving up`, {
          stage: 'name',
          code: 'ETIMEDOUT',
          path,
        })
      }
      await delay(step)
    }
    return fd
  } catch (err) {
    closeSync(fd)
    throw err
  }
}
