// --instances max (docs/supervision.md#instances-max): the CPUs this process
// may use, its affinity mask lowered to ⌈quota/period⌉ under a cgroup CPU
// quota, the lowest along its cgroup's ancestry, cgroup v2 and v1. The
// reader is injected for a fake /proc and /sys (v2 here: this machine's
// cgroup2 mount has no cpu controller, it is bound to the v1 hierarchy);
// then for real on the v1 cpu controller: a cgroup made for the test with a
// quota of one CPU, and `start --instances max` run inside it (v2 where the
// machine's cgroup2 mount offers the cpu controller).
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { cgroupCpuLimit, readKernelFile, type ReadFile, usableCpus } from '../src/proc/cpu-limit.js'
import { readSupervisorState, statePathOf } from '../src/files/state-file.js'
import { fixtures } from './helpers/caller.js'
import { cliBin, type CliRun, collect, runCli } from './helpers/cli.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { useNamesRoot } from './helpers/names.js'
import { cleanUpScratchDirs } from './helpers/scratch.js'
import { until } from './helpers/wait.js'

/** A fake filesystem: path -> content; anything else is missing. Records what was read. */
function fake(files: Record<string, string>): ReadFile & { asked: string[] } {
  const asked: string[] = []
  const read = ((path: string, max: number) => {
    asked.push(path)
    const t = files[path]
    return t === undefined || Buffer.byteLength(t) > max ? undefined : t
  }) as ReadFile & { asked: string[] }
  read.asked = asked
  return read
}

const V2_MOUNT = '24 18 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n'
const V1_MOUNTS =
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n' +
  '32 31 0:29 /kubepods/pod1 /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n' +
  '34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n'

describe('the CPU quota of --instances max (injected reader)', () => {
  it('cgroup v2: the lowest cpu.max along the ancestry wins, rounded up; "max" is none', () => {
    const read = fake({
      '/proc/self/cgroup': '0::/kubepods.slice/pod.slice/app.scope\n',
      '/proc/self/mountinfo': V2_MOUNT,
      '/sys/fs/cgroup/kubepods.slice/pod.slice/app.scope/cpu.max': 'max 100000\n',
      '/sys/fs/cgroup/kubepods.slice/pod.slice/cpu.max': '250000 100000\n',
      '/sys/fs/cgroup/kubepods.slice/cpu.max': '1600000 100000\n',
    })
    expect(cgroupCpuLimit(read)).toBe(3)
    // Every level up to the mount's root was read, nothing above it.
    expect(read.asked.filter((p) => p.endsWith('cpu.max'))).toEqual([
      '/sys/fs/cgroup/kubepods.slice/pod.slice/app.scope/cpu.max',
      '/sys/fs/cgroup/kubepods.slice/pod.slice/cpu.max',
      '/sys/fs/cgroup/kubepods.slice/cpu.max',
      '/sys/fs/cgroup/cpu.max',
    ])
    // A pod limited to 2 CPUs on a 64-core node gets 2; the affinity mask is the other bound.
    expect(usableCpus(64, fake({ '/proc/self/cgroup': '0::/p\n', '/proc/self/mountinfo': V2_MOUNT, '/sys/fs/cgroup/p/cpu.max': '200000 100000\n' }), 64)).toBe(2)
    expect(usableCpus(64, fake({ '/proc/self/cgroup': '0::/p\n', '/proc/self/mountinfo': V2_MOUNT, '/sys/fs/cgroup/p/cpu.max': '50000 100000\n' }), 64)).toBe(1)
    expect(usableCpus(64, fake({ '/proc/self/cgroup': '0::/p\n', '/proc/self/mountinfo': V2_MOUNT, '/sys/fs/cgroup/p/cpu.max': '800000 100000\n' }), 4)).toBe(4)
    expect(usableCpus(64, fake({ '/proc/self/cgroup': '0::/p\n', '/proc/self/mountinfo': V2_MOUNT, '/sys/fs/cgroup/p/cpu.max': 'max 100000\n' }), 96)).toBe(64)
  })

  it('cgroup v1: cpu.cfs_quota_us over cpu.cfs_period_us under the cpu controller\'s mount, its root taken off the path; -1 is none', () => {
    const read = fake({
      '/proc/self/cgroup': '5:cpuset:/\n4:cpu,cpuacct:/kubepods/pod1/c1\n0::/\n',
      '/proc/self/mountinfo': V1_MOUNTS,
      '/sys/fs/cgroup/cpu,cpuacct/c1/cpu.cfs_quota_us': '-1\n',
      '/sys/fs/cgroup/cpu,cpuacct/c1/cpu.cfs_period_us': '100000\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '150000\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    })
    expect(cgroupCpuLimit(read)).toBe(2)
    expect(usableCpus(64, read, 8)).toBe(2)
  })

  it('hybrid: v1 and v2 both read, the lowest wins', () => {
    const read = fake({
      '/proc/self/cgroup': '4:cpu,cpuacct:/kubepods/pod1\n0::/a\n',
      '/proc/self/mountinfo': V1_MOUNTS + V2_MOUNT.replace(' /sys/fs/cgroup ', ' /sys/fs/cgroup/unified '),
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '300000\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
      '/sys/fs/cgroup/unified/a/cpu.max': '100000 100000\n',
    })
    expect(cgroupCpuLimit(read)).toBe(1)
  })

  it.each([
    ['no /proc/self/cgroup', {}],
    ['no cgroup mount', { '/proc/self/cgroup': '0::/p\n', '/proc/self/mountinfo': '22 1 8:1 / / rw - ext4 /dev/sda1 rw\n' }],
    ['a cgroup outside the mount\'s root', { '/proc/self/cgroup': '4:cpu,cpuacct:/elsewhere\n', '/proc/self/mountinfo': V1_MOUNTS, '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '100000\n', '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n' }],
    ['a path with ..', { '/proc/self/cgroup': '0::/p/../q\n', '/proc/self/mountinfo': V2_MOUNT, '/sys/fs/cgroup/q/cpu.max': '100000 100000\n' }],
    ['garbage in cpu.max', { '/proc/self/cgroup': '0::/p\n', '/proc/self/mountinfo': V2_MOUNT, '/sys/fs/cgroup/p/cpu.max': '1e5 100000\n' }],
    ['a zero period', { '/proc/self/cgroup': '0::/p\n', '/proc/self/mountinfo': V2_MOUNT, '/sys/fs/cgroup/p/cpu.max': '100000 0\n' }],
    ['a file longer than the bound', { '/proc/self/cgroup': '0::/p\n', '/proc/self/mountinfo': V2_MOUNT, '/sys/fs/cgroup/p/cpu.max': `100000 100000${' '.repeat(300)}\n` }],
    ['a malformed mountinfo', { '/proc/self/cgroup': '0::/p\n', '/proc/self/mountinfo': 'cgroup2 - \n\n - cgroup2\n' }],
  ])('%s: no quota, the affinity count stands', (_what, files) => {
    expect(cgroupCpuLimit(fake(files))).toBeUndefined()
    expect(usableCpus(64, fake(files), 3)).toBe(3)
  })

  it('mountinfo\'s octal escapes in a mount point are decoded', () => {
    const read = fake({
      '/proc/self/cgroup': '0::/p\n',
      '/proc/self/mountinfo': '24 18 0:22 / /mnt/cg\\040two rw - cgroup2 cgroup2 rw\n',
      '/mnt/cg two/p/cpu.max': '100000 100000\n',
    })
    expect(cgroupCpuLimit(read)).toBe(1)
  })

  it('the real reader: refuses a file on the wrong filesystem and a symbolic link; reads /proc', () => {
    expect(readKernelFile('/etc/hostname', 4096)).toBeUndefined()
    expect(readKernelFile('/proc/self/cgroup', 64 * 1024)).toMatch(/^\d+:/)
    // /proc/self is a symbolic link: through it, O_NOFOLLOW on the last part only; /proc/mounts is one itself.
    expect(readKernelFile('/proc/mounts', 1 << 20)).toBeUndefined()
    // On this machine: whatever the quota, the count is within [1, affinity].
    const n = usableCpus(64)
    expect(n).toBeGreaterThanOrEqual(1)
    expect(n).toBeLessThanOrEqual(availableParallelism())
  })
})

/**
 * Where this machine's cpu controller is: a cgroup v1 hierarchy with it (here: hybrid, its cgroup2
 * mount at /sys/fs/cgroup/unified has no controllers), or else the cgroup2 mount when it offers cpu.
 */
function cpuController(): { version: 1 | 2; mount: string } {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(' - '))
    .map((l) => {
      const [pre, post] = l.split(' - ')
      const [fstype, , opts] = post.split(' ')
      return { fstype, opts: (opts ?? '').split(','), mount: pre.split(' ')[4] }
    })
  const v1 = mounts.find((m) => m.fstype === 'cgroup' && m.opts.includes('cpu'))
  if (v1) return { version: 1, mount: v1.mount }
  const v2 = mounts.find((m) => m.fstype === 'cgroup2' && readFileSync(join(m.mount, 'cgroup.controllers'), 'utf8').trim().split(' ').includes('cpu'))
  if (v2) return { version: 2, mount: v2.mount }
  throw new Error('no cpu controller on this machine (no cgroup v1 cpu hierarchy, no cpu in the cgroup2 mount): no quota can be set')
}

describe('--instances max in a real cgroup with a CPU quota', () => {
  cleanUpScratchDirs()
  const made: string[] = []
  // Registered before cleanUpDaemons: runs after it (the daemons are gone, the cgroups empty).
  afterEach(async () => {
    for (const dir of made.splice(0).reverse()) {
      await until(`${dir} to be removed`, () => {
        try {
          rmdirSync(dir)
          return true
        } catch (err) {
          return (err as NodeJS.ErrnoException).code === 'ENOENT'
        }
      })
    }
  })
  cleanUpDaemons()
  const current = useNamesRoot()
  // A test that failed half-way: its service stopped by name first (registered last: runs first).
  afterEach(async () => {
    const root = current()
    if (existsSync(join(root.run, 'maxed.pid'))) await runCli(['stop', 'maxed'], root.env)
  })

  const ctl = cpuController()

  /** A cgroup made at path with a CPU quota (-1: none), v1 or v2 as the machine has the controller. */
  function cgroup(path: string, quotaUs: number, periodUs = 100_000): string {
    // cgroup v2: the parent hands the cpu controller down to its children first.
    if (ctl.version === 2) writeFileSync(join(path, '..', 'cgroup.subtree_control'), '+cpu')
    mkdirSync(path)
    made.push(path)
    if (ctl.version === 2) {
      writeFileSync(join(path, 'cpu.max'), `${quotaUs < 0 ? 'max' : quotaUs} ${periodUs}`)
    } else {
      writeFileSync(join(path, 'cpu.cfs_period_us'), String(periodUs))
      writeFileSync(join(path, 'cpu.cfs_quota_us'), String(quotaUs))
    }
    return path
  }

  /** The CLI with args, moved into the cgroup dir before it execs (a shell writes its own pid into cgroup.procs). */
  function cliIn(dir: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
    return collect(spawn('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, process.execPath, cliBin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }))
  }

  it.each([
    ['a quota of one CPU on its own cgroup', [100_000]],
    ['a quota of half a CPU (rounded up to 1)', [50_000]],
    ['a quota of one CPU on the parent, none on its own cgroup', [100_000, -1]],
  ])('%s: start --instances max runs 1 instance', async (_what, quotas) => {
    // Without the quota this machine would run more than one: else the test could not fail.
    expect(availableParallelism()).toBeGreaterThan(1)
    let dir = join(ctl.mount, `nd-test-${process.pid}-${Date.now()}`)
    for (const [i, q] of quotas.entries()) dir = cgroup(i === 0 ? dir : join(dir, `c${i}`), q)
    const root = current()
    const r = await cliIn(dir, ['start', '--json', join(fixtures, 'daemon-idle.js'), '--name', 'maxed', '--respawn', '--instances', 'max'], root.env)
    expect(r.code, r.err).toBe(0)
    const result = JSON.parse(r.out) as { pid: number; supervisorPid: number; pidFile: string }
    track(result.pid)
    track(result.supervisorPid)
    // The supervisor runs in the quota's cgroup: it was started from there.
    const line = ctl.version === 2 ? `0::${dir.slice(ctl.mount.length)}` : `:${dir.slice(ctl.mount.length)}`
    expect(readFileSync(`/proc/${result.supervisorPid}/cgroup`, 'utf8').split('\n').some((l) => l.endsWith(line) && (ctl.version === 2 || /:(\w+,)*cpu(,\w+)*:/.test(l)))).toBe(true)
    const st = readSupervisorState(statePathOf(result.pidFile), 0)
    expect(st?.instances?.length ?? 1).toBe(1)
    await until('the instance to run', () => readSupervisorState(statePathOf(result.pidFile), 0)?.daemonPid !== undefined)
    const pid = track(readSupervisorState(statePathOf(result.pidFile), 0)?.daemonPid as number)
    const stopped = await cliIn(dir, ['stop', 'maxed'], root.env)
    expect(stopped.code, stopped.err).toBe(0)
    for (const p of [result.supervisorPid, pid]) await untilGone(p)
  })
})
