// What still runs in the service's cgroup after its supervisor was killed
// with SIGKILL (docs/supervision.md, "When the supervisor is killed with
// SIGKILL"). Where the supervisor made per-generation cgroups, every
// generation and everything it started is in
// `nd-<label>-<hash>-<supervisor pid>/g<N>`, whatever it did (setsid, double
// forks): a process that left the session, which /proc cannot attribute
// once the supervisor is gone, is still there. The state record (version 4)
// names that cgroup: its absolute path and its inode number (the cgroup id).
//
// A cgroup is read or killed only when it is provably this service's:
//  - recorded: the path and inode come from the launch record, which only
//    the caller's side writes (launch-record.ts says why it is trusted);
//  - named: its name is the one the supervisor derives from this pid file
//    and its own pid (cgroup.c, name_prefix), recomputed here;
//  - the very directory: reached through fds (walkDir: each directory on
//    the way owned by root or the caller), then on the cgroup2 filesystem,
//    with the recorded inode (a cgroup id is not reused until reboot), owned
//    by the pid file's owner (who ran the supervisor) and writable by no one
//    else. Everything after that goes through its fd, never its path again.
// The service user cannot make, rename or move anything into these
// directories (they are the caller's, 0755; moving a process needs write
// access to the destination's cgroup.procs), so what runs in them descends
// from a generation. A service that runs as the caller itself could move
// its own processes in or out, as it can signal the supervisor: there is
// no boundary between the two then, and nothing here reaches another user.
import { closeSync, constants as fsc, fstatSync, lstatSync, readdirSync, readSync, realpathSync, rmdirSync, statfsSync, writeSync } from 'node:fs'
import { basename, dirname } from 'node:path'
import { delay } from '../delay.js'
import type { Stage } from '../errors.js'
import { walkDir } from '../files/dirwalk.js'
import { native } from '../native.js'
import { procIdentity } from '../proc/identity.js'
import { statePathOf, type SupervisorState } from '../files/state-file.js'

const CGROUP2_SUPER_MAGIC = 0x63677270
/** The walk below the service's cgroup: generations are one level down; deeper ones only a service running as the caller can make. */
const MAX_DEPTH = 3
const MAX_DIRS = 64
/** cgroup.procs is read up to this much per directory (~9000 pids). */
const PROCS_MAX = 64 * 1024
/** How long stop waits for the cgroup to empty after cgroup.kill (only an uninterruptible sleep delays it). */
const EMPTY_WAIT_MS = 10_000

/** The service's cgroup, opened and checked. */
interface Opened {
  /** Its parent directory (the supervisor's own cgroup), and itself. */
  parent: number
  fd: number
  dir: string
  name: string
}

/** Why a recorded cgroup is not used, or undefined when there is none (anymore). */
type Lookup = { ok: Opened } | { refused: string } | undefined

/** `/proc/self/fd/N`: the directory fd N names, for the calls Node has no `*at` form of. */
function viaFd(fd: number, name?: string): string {
  return `/proc/self/fd/${fd}${name === undefined ? '' : `/${name}`}`
}

/**
 * The name the supervisor gives the service's cgroup (native/cgroup.c,
 * name_prefix): "nd-", the pid file's name without ".pid" cut to 40 bytes
 * of [A-Za-z0-9_-] (others become "_"), "-", the FNV-1a hash of the pid
 * file's path in 8 hex digits, "-", the supervisor's pid. The path is the
 * one the supervisor read back from its state file's fd: resolved, cut
 * before ".state".
 */
export function serviceCgroupName(pidFile: string, supervisorPid: number): string | undefined {
  let real: Buffer
  try {
    real = realpathSync(statePathOf(pidFile), { encoding: 'buffer' })
  } catch {
    return undefined
  }
  const cut = real.indexOf('.state')
  const path = cut >= 0 ? real.subarray(0, cut) : real
  let base = path.subarray(path.lastIndexOf(0x2f) + 1)
  if (base.length > 4 && base.subarray(base.length - 4).toString('latin1') === '.pid') base = base.subarray(0, base.length - 4)
  const label = [...base.subarray(0, 40)].map((c) => (/[A-Za-z0-9_-]/.test(String.fromCharCode(c)) ? String.fromCharCode(c) : '_')).join('')
  let h = 2166136261
  for (const c of path) h = Math.imul(h ^ c, 16777619) >>> 0
  return `nd-${label}-${h.toString(16).padStart(8, '0')}-${supervisorPid}`
}

/** The recorded cgroup, opened through fds and checked (see the top of this file). */
function openServiceCgroup(pidFile: string, record: SupervisorState, stage: Stage): Lookup {
  const cg = record.cgroup
  if (!record.cgroups || cg === undefined || record.supervisorPid <= 0) return undefined
  const name = basename(cg.dir)
  if (name !== serviceCgroupName(pidFile, record.supervisorPid)) return { refused: `its name is not the one its supervisor gives this pid file` }
  let owner: number
  try {
    owner = lstatSync(pidFile).uid
  } catch {
    return undefined
  }
  let parent: number
  try {
    const p = walkDir(dirname(cg.dir), { stage, allowMissing: true, readable: true })
    if (p === undefined) return undefined
    parent = p.fd
  } catch (err) {
    return { refused: (err as Error).message }
  }
  let fd = -1
  try {
    fd = native().openAt(parent, name, fsc.O_RDONLY | fsc.O_DIRECTORY, 0, cg.dir)
    const st = fstatSync(fd, { bigint: true })
    const why =
      statfsSync(viaFd(fd)).type !== CGROUP2_SUPER_MAGIC
        ? 'it is not on a cgroup2 filesystem'
        : st.ino !== cg.id
          ? 'it is another cgroup than the recorded one (its inode differs)'
          : Number(st.uid) !== owner
            ? `it is owned by uid ${st.uid}, not by the pid file's owner`
            : (Number(st.mode) & 0o022) !== 0
              ? 'it is writable by group or others'
              : undefined
    if (why === undefined) return { ok: { parent, fd, dir: cg.dir, name } }
    closeSync(fd)
    closeSync(parent)
    return { refused: why }
  } catch (err) {
    if (fd >= 0) closeSync(fd)
    closeSync(parent)
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : { refused: (err as Error).message }
  }
}

function close(o: Opened): void {
  closeSync(o.fd)
  closeSync(o.parent)
}

/** A kernel file of the cgroup directory dirfd, read from its start, bounded. */
function readIn(dirfd: number, name: string, max: number): string {
  const fd = native().openAt(dirfd, name, fsc.O_RDONLY)
  try {
    const buf = Buffer.alloc(max)
    let got = 0
    for (let n; got < max && (n = readSync(fd, buf, got, max - got, null)) > 0; ) got += n
    return buf.toString('latin1', 0, got)
  } finally {
    closeSync(fd)
  }
}

/** The cgroups below dirfd (depth and count bounded), each visited with its fd, deepest first. */
function eachBelow(dirfd: number, visit: (parent: number, name: string, fd: number) => void, depth = 1, seen = { dirs: 0 }): void {
  if (depth > MAX_DEPTH) return
  let names: string[]
  try {
    names = readdirSync(viaFd(dirfd), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
  } catch {
    return
  }
  for (const name of names) {
    if (++seen.dirs > MAX_DIRS) return
    let fd: number
    try {
      fd = native().openAt(dirfd, name, fsc.O_RDONLY | fsc.O_DIRECTORY)
    } catch {
      continue // removed meanwhile
    }
    try {
      eachBelow(fd, visit, depth + 1, seen)
      visit(dirfd, name, fd)
    } finally {
      closeSync(fd)
    }
  }
}

/** Every pid in the cgroup fd and below, in ascending order. */
function memberPids(fd: number): number[] {
  const out: number[] = []
  const add = (dirfd: number) => {
    try {
      for (const l of readIn(dirfd, 'cgroup.procs', PROCS_MAX).split('\n')) if (/^\d+$/.test(l)) out.push(Number(l))
    } catch {
      // removed meanwhile
    }
  }
  add(fd)
  eachBelow(fd, (_parent, _name, sub) => add(sub))
  return out.sort((a, b) => a - b)
}

/**
 * What runs in the service's recorded cgroup, alive (no zombie), in the
 * cgroup both before and after it was looked at in /proc (a pid that left
 * and was reused meanwhile could only come back by a fork inside it).
 * undefined when the record names no cgroup, it is gone, or it is not
 * provably this service's.
 */
export function cgroupMembers(pidFile: string, record: SupervisorState, stage: Stage): { dir: string; pids: number[] } | undefined {
  const found = openServiceCgroup(pidFile, record, stage)
  if (found === undefined || !('ok' in found)) return undefined
  try {
    const first = memberPids(found.ok.fd)
    const alive = first.filter((pid) => {
      const id = procIdentity(pid)
      return id !== undefined && id.state !== 'Z' && id.state !== 'X'
    })
    const again = new Set(memberPids(found.ok.fd))
    return { dir: found.ok.dir, pids: alive.filter((p) => again.has(p)) }
  } finally {
    close(found.ok)
  }
}

export interface CgroupEnd {
  dir: string
  /** What ran in it when cgroup.kill was written. */
  killed: number[]
  removed: boolean
  /** Why it was left (not provably the service's, still populated, rmdir refused). */
  left?: string
}

/** cgroup.events says "populated 0". */
function empty(fd: number): boolean {
  return /^populated 0$/m.test(readIn(fd, 'cgroup.events', 4096))
}

/**
 * Kill what is left in the service's recorded cgroup (cgroup.kill: the
 * kernel kills every process in it and below, and what is being forked
 * meanwhile), wait until it is empty, and remove it with every cgroup
 * below. undefined when the record names none or it is gone already.
 */
export async function endServiceCgroup(pidFile: string, record: SupervisorState, stage: Stage): Promise<CgroupEnd | undefined> {
  const found = openServiceCgroup(pidFile, record, stage)
  if (found === undefined) return undefined
  if (!('ok' in found)) return { dir: record.cgroup?.dir ?? '', killed: [], removed: false, left: found.refused }
  const o = found.ok
  const out: CgroupEnd = { dir: o.dir, killed: [], removed: false }
  try {
    out.killed = memberPids(o.fd)
    if (!empty(o.fd)) {
      const kill = native().openAt(o.fd, 'cgroup.kill', fsc.O_WRONLY)
      try {
        writeSync(kill, '1')
      } finally {
        closeSync(kill)
      }
      for (const end = Date.now() + EMPTY_WAIT_MS; !empty(o.fd) && Date.now() < end; ) await delay(10)
      if (!empty(o.fd)) {
        out.left = `still populated ${EMPTY_WAIT_MS} ms after cgroup.kill (a process in uninterruptible sleep?)`
        return out
      }
    }
    // Empty: the cgroups below first (rmdir takes only a cgroup with none below it), then itself.
    const rmdir = (parent: number, name: string, shown: string) => {
      try {
        rmdirSync(viaFd(parent, name))
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code !== 'ENOENT') throw new Error(`cannot remove ${shown} (${code ?? (err as Error).message})`)
      }
    }
    eachBelow(o.fd, (parent, name) => rmdir(parent, name, `its cgroup ${name}`))
    rmdir(o.parent, o.name, 'it')
    out.removed = true
  } catch (err) {
    out.left = (err as Error).message
  } finally {
    close(o)
  }
  return out
}
