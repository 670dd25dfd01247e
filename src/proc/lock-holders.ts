// Which processes hold a lock file's write lock, from /proc: every fd of
// every process, matched by device and inode, then by the lock itself. An
// OFD lock belongs to one open file description; /proc/<pid>/fdinfo/<fd>
// lists it ("lock:\t1: OFDLCK ADVISORY  WRITE -1 fe:00:1234 0 EOF") only
// for an fd of that description. So a process that merely has the file
// open (a stop trying to take the lock, root's own open) is not a holder;
// one the daemon handed its lock fd to (inherited, or passed with
// SCM_RIGHTS) is. And, plainer, whether a process has a file open at all.
import { readdirSync, readFileSync } from 'node:fs'
import { native } from '../native.js'
import { allPids, procIdentity, type ProcIdentity } from './identity.js'

export interface LockHolder extends ProcIdentity {
  /** It also has the pid file open for writing: a launch (or a removal) of ours in progress. */
  writesPidFile: boolean
}

interface FileId {
  dev: number
  ino: number
}

/** major:minor:inode as /proc prints a lock's file (device numbers in hex), as glibc encodes st_dev. */
function lockFileId(f: FileId): string {
  const dev = BigInt(f.dev)
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn)
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${f.ino}`
}

/** Does this fdinfo text list a WRITE lock on the file? */
function fdinfoHoldsWriteLock(text: string, id: string): boolean {
  for (const line of text.split('\n')) {
    if (!line.startsWith('lock:')) continue
    // "lock:\t1: OFDLCK ADVISORY  WRITE -1 fe:00:2146952 0 EOF"
    const f = line.slice(5).trim().split(/\s+/)
    if (f.length >= 6 && ['OFDLCK', 'POSIX', 'FLOCK'].includes(f[1]) && f[3] === 'WRITE' && f[5].toLowerCase() === id) return true
  }
  return false
}

/** O_WRONLY or O_RDWR in the flags line of an fdinfo text. */
function fdinfoWritable(text: string): boolean {
  const m = /^flags:\s+([0-7]+)$/m.exec(text)
  return m !== null && (parseInt(m[1], 8) & 3) !== 0
}

/**
 * What pid holds of the two files: the lock (an fd of the locking open file
 * description) and the pid file open for writing. Bounded by its fd count;
 * a process we may not look into (another user's, for a caller who is not
 * root) or one gone meanwhile holds nothing we can see.
 */
function heldBy(base: string, lock: FileId, lockId: string, pidFile?: FileId): { lock: boolean; pidFile: boolean } {
  const out = { lock: false, pidFile: false }
  let fds: number[]
  try {
    fds = native().procFdStats(`${base}/fd`)
  } catch {
    return out
  }
  // [fd, dev, ino, ...]: one call for the readdir and a stat per fd.
  for (let i = 0; i < fds.length; i += 3) {
    const fd = fds[i]
    const dev = fds[i + 1]
    const ino = fds[i + 2]
    const isLock = dev === lock.dev && ino === lock.ino
    const isPid = pidFile !== undefined && dev === pidFile.dev && ino === pidFile.ino
    if (!isLock && !isPid) continue
    let info: string
    try {
      info = readFileSync(`${base}/fdinfo/${fd}`, 'latin1')
    } catch {
      continue
    }
    if (isLock && fdinfoHoldsWriteLock(info, lockId)) out.lock = true
    if (isPid && fdinfoWritable(info)) out.pidFile = true
  }
  return out
}

/** Does pid hold the write lock on the file (an fd of the locking description)? */
export function holdsWriteLock(pid: number, lock: FileId): boolean {
  return heldBy(`/proc/${pid}`, lock, lockFileId(lock)).lock
}

/** The threads of pid other than its leader (/proc/<pid>/task). */
function otherTasks(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`).filter((t) => t !== String(pid))
  } catch {
    return []
  }
}

/**
 * Every process that holds the write lock on `lock` now, with who it is,
 * and whether it also has `pidFile` open for writing. A scan of /proc:
 * linear in the processes and their fds. With `threads`, the fd tables of
 * every thread too: a thread made without CLONE_FILES has its own, which
 * /proc/<pid>/fd does not show (costlier; for when the first look found
 * the lock held and no holder).
 */
export function lockHolders(lock: FileId, pidFile?: FileId, threads = false): LockHolder[] {
  const id = lockFileId(lock)
  const out: LockHolder[] = []
  for (const pid of allPids()) {
    let held = heldBy(`/proc/${pid}`, lock, id, pidFile)
    if (threads && !held.lock) {
      for (const tid of otherTasks(pid)) {
        const t = heldBy(`/proc/${pid}/task/${tid}`, lock, id, pidFile)
        if (t.lock) held = { lock: true, pidFile: held.pidFile || t.pidFile }
        if (held.lock) break
      }
    }
    if (!held.lock) continue
    const who = procIdentity(pid)
    if (who !== undefined) out.push({ ...who, writesPidFile: held.pidFile })
  }
  return out
}

/** Does process `pid` have the file (dev, ino) open? Read from /proc/<pid>/fd (bounded by its fd count). */
export function processHoldsFile(pid: number, file: { dev: number; ino: number }): boolean {
  // [fd, dev, ino, ...]; an fd closed meanwhile, or whose target cannot be stat'ed, is not there.
  const fds = native().procFdStats(`/proc/${pid}/fd`)
  for (let i = 0; i < fds.length; i += 3) if (fds[i + 1] === file.dev && fds[i + 2] === file.ino) return true
  return false
}
