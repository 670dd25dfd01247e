// How many CPUs this process may use, for `--instances max`: its affinity
// mask (os.availableParallelism()), lowered to ⌈quota/period⌉ under a
// cgroup CPU quota (a container limited to 2 CPUs on a 64-core node gets 2,
// as the kernel's CFS bandwidth control will not give it more).
//
//  - cgroup v2: `cpu.max` ("QUOTA PERIOD", or "max PERIOD") of this
//    process's own cgroup and of every ancestor up to the root of the
//    cgroup2 mount: each level caps its subtree, so the lowest wins.
//  - cgroup v1: `cpu.cfs_quota_us` (-1: none) and `cpu.cfs_period_us` under
//    the mount of the hierarchy that has the cpu controller, the same walk.
//
// The cgroup paths come from /proc/self/cgroup and the mounts from
// /proc/self/mountinfo. Everything is read bounded, each file opened
// without following a symbolic link and checked to be on the filesystem it
// must be on (proc, or a cgroup filesystem); anything odd or missing (no
// cgroup filesystem, a cgroup outside the visible mount, an unparsable
// value) counts as no limit at that place, so the affinity count stands.
// Levels above a mount's root (a container that sees only its own subtree)
// cannot be read; the kernel applies them all the same.
import { closeSync, constants as fsc, fstatSync, openSync, readSync, statfsSync } from 'node:fs'
import { availableParallelism } from 'node:os'

/** Reads a whole file of at most `max` bytes; undefined when it is missing, unreadable, not what it must be, or longer. */
export type ReadFile = (path: string, max: number) => string | undefined

const PROC_SUPER_MAGIC = 0x9fa0
const CGROUP_SUPER_MAGIC = 0x27e0eb
const CGROUP2_SUPER_MAGIC = 0x63677270
/** /proc/self/cgroup: one line per hierarchy. */
const CGROUP_MAX = 64 * 1024
/** /proc/self/mountinfo: ~150 bytes a mount; a host with thousands of mounts still fits. */
const MOUNTINFO_MAX = 4 * 1024 * 1024
/** cpu.max, cpu.cfs_*_us: a line of two numbers. */
const VALUE_MAX = 256
/** The reads' size. */
const CHUNK = 16 * 1024
/** How many levels up a cgroup path is walked (the kernel allows far fewer in practice). */
const MAX_LEVELS = 64

/** The default reader: O_NOFOLLOW, a regular file on the filesystem its place requires, at most max bytes. */
export const readKernelFile: ReadFile = (path, max) => {
  let fd: number
  try {
    fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY)
  } catch {
    return undefined
  }
  try {
    if (!fstatSync(fd).isFile()) return undefined
    const type = statfsSync(`/proc/self/fd/${fd}`).type
    const wanted = path.startsWith('/proc/') ? type === PROC_SUPER_MAGIC : type === CGROUP_SUPER_MAGIC || type === CGROUP2_SUPER_MAGIC
    if (!wanted) return undefined
    // In chunks (mountinfo's bound is large, the file small); one byte more than allowed tells a file that is too long.
    const chunks: Buffer[] = []
    let got = 0
    for (let n = 1; n > 0 && got <= max; ) {
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK, max + 1 - got))
      n = readSync(fd, chunk, 0, chunk.length, null)
      chunks.push(chunk.subarray(0, n))
      got += n
    }
    return got > max ? undefined : Buffer.concat(chunks, got).toString('utf8')
  } catch {
    return undefined
  } finally {
    closeSync(fd)
  }
}

interface Mount {
  /** The path inside the hierarchy that is mounted. */
  root: string
  mountPoint: string
  fstype: string
  superOptions: string[]
}

/** mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)))
}

/** The cgroup mounts of /proc/self/mountinfo (proc(5)): fields, then " - ", then fstype, source, super options. */
export function cgroupMounts(text: string): Mount[] {
  const out: Mount[] = []
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ')
    if (sep < 0) continue
    const pre = line.slice(0, sep).split(' ')
    const post = line.slice(sep + 3).split(' ')
    if (pre.length < 6 || post.length < 3) continue
    const fstype = post[0]
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue
    out.push({ root: unescape(pre[3]), mountPoint: unescape(pre[4]), fstype, superOptions: post[2].split(',') })
  }
  return out
}

/** The directory of cgroup `path` under mount m, and the mount point the walk up stops at; undefined when the mount does not show it. */
function under(m: Mount, path: string): string | undefined {
  if (!path.startsWith('/') || path.split('/').some((p) => p === '..' || p === '.')) return undefined
  const root = m.root === '/' ? '' : m.root
  if (path !== root && !path.startsWith(`${root}/`) && root !== '') return undefined
  const rel = path.slice(root.length)
  return m.mountPoint === '/' ? rel || '/' : `${m.mountPoint}${rel === '/' ? '' : rel}`
}

/** dir and its ancestors up to and including stop (bounded). */
function upTo(dir: string, stop: string): string[] {
  const out: string[] = []
  for (let d = dir; out.length < MAX_LEVELS; d = d.slice(0, d.lastIndexOf('/')) || '/') {
    out.push(d)
    if (d === stop || d === '/') break
  }
  return out
}

/** ⌈quota/period⌉, or undefined for none or anything that is not two whole numbers. */
function cpus(quota: string, period: string): number | undefined {
  if (!/^\d{1,18}$/.test(quota) || !/^\d{1,18}$/.test(period)) return undefined
  const q = Number(quota)
  const p = Number(period)
  if (q <= 0 || p <= 0) return undefined
  return Math.ceil(q / p)
}

/**
 * The CPUs a cgroup quota allows this process, the lowest along its
 * cgroups' ancestry (v2 and v1 alike), or undefined when there is none
 * (or it cannot be read). `read` is injectable for tests.
 */
export function cgroupCpuLimit(read: ReadFile = readKernelFile): number | undefined {
  const self = read('/proc/self/cgroup', CGROUP_MAX)
  const info = self === undefined ? undefined : read('/proc/self/mountinfo', MOUNTINFO_MAX)
  if (self === undefined || info === undefined) return undefined
  const mounts = cgroupMounts(info)
  let lowest: number | undefined
  const take = (n: number | undefined) => {
    if (n !== undefined && (lowest === undefined || n < lowest)) lowest = n
  }
  for (const line of self.split('\n')) {
    // hierarchy-ID:controller-list:cgroup-path (the path may itself hold ':').
    const m = /^(\d+):([^:]*):(\/.*)$/.exec(line)
    if (!m) continue
    const [, id, controllers, path] = m
    const v2 = id === '0' && controllers === ''
    const kind = v2 ? 'cgroup2' : 'cgroup'
    if (!v2 && !controllers.split(',').includes('cpu')) continue
    const mount = mounts.find((mt) => mt.fstype === kind && (v2 || mt.superOptions.includes('cpu')) && under(mt, path) !== undefined)
    if (mount === undefined) continue
    for (const dir of upTo(under(mount, path) as string, mount.mountPoint)) {
      if (v2) {
        const f = read(`${dir}/cpu.max`, VALUE_MAX)?.trim().split(' ')
        if (f?.length === 2 && f[0] !== 'max') take(cpus(f[0], f[1]))
      } else {
        const q = read(`${dir}/cpu.cfs_quota_us`, VALUE_MAX)?.trim()
        const p = q === undefined || q === '-1' ? undefined : read(`${dir}/cpu.cfs_period_us`, VALUE_MAX)?.trim()
        if (q !== undefined && p !== undefined) take(cpus(q, p))
      }
    }
  }
  return lowest
}

/**
 * The CPUs this process may use: its affinity mask, lowered to a cgroup CPU
 * quota's ⌈quota/period⌉; at least 1, at most `cap`.
 */
export function usableCpus(cap: number, read: ReadFile = readKernelFile, affinity = availableParallelism()): number {
  const quota = cgroupCpuLimit(read)
  return Math.max(1, Math.min(cap, affinity, quota ?? Infinity))
}
