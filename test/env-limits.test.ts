// The daemon's environment and resource limits, read from /proc/<pid>/environ
// (the environment exactly as exec received it) and /proc/<pid>/limits.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { daemonize } from '../src/index.js'
import { native, type UserEntry } from '../src/native.js'
import { SAFE_PATH } from '../src/options/daemonize-options.js'
import { execShim, fixtures } from './helpers/caller.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { untilLine } from './helpers/files.js'
import { isAlive } from './helpers/proc.js'
import { failure } from './helpers/expect-failure.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

const nobody = native().lookupUser('nobody') as UserEntry
const privDaemon = join(fixtures, 'priv-daemon.mjs')
const shimEntry = privDaemon

let dir: string
beforeEach(() => {
  dir = scratchDir('nd-envlim-', 0o755)
})

/** Wait until the daemon's log has a line containing `text`. */
async function logged(log: string, text: string): Promise<void> {
  await untilLine(log, text)
}

/** Start the exec shim with these options; resolves once it has exec'd and printed its state. */
async function shim(options: Partial<Parameters<typeof daemonize>[0]> = {}): Promise<{ pid: number; log: string }> {
  const log = join(dir, `shim-${Math.random().toString(36).slice(2)}.log`)
  const d = await daemonize({ entry: shimEntry, execPath: execShim, preload: false, logFile: log, ...options })
  track(d.pid)
  await logged(log, '{"shim"')
  return { pid: d.pid, log }
}

/** /proc/<pid>/environ as a sorted list of K=V. */
function environ(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8')
    .split('\0')
    .filter((e) => e !== '')
    .sort()
}

/** [soft, hard] of one line of /proc/<pid>/limits. */
function limit(pid: number | 'self', name: string): [string, string] {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(name))
  if (!line) throw new Error(`no ${name} in /proc/${pid}/limits`)
  const [soft, hard] = line.slice(name.length).trim().split(/\s+/)
  return [soft, hard]
}

/** What the launcher adds with a log file: the variable and its contract version. */
const ours = (log: string) => [`NODE_DAEMONIZE_LOG_FILE=${log}`, 'NODE_DAEMONIZE_CONTRACT=1']

describe('environment', () => {
  it('env replaces the caller\'s; NODE_DAEMONIZE_* and NOTIFY_SOCKET from outside never pass', async () => {
    const { pid, log } = await shim({
      env: {
        FOO: 'bar',
        EMPTY: '',
        GONE: undefined,
        NODE_DAEMONIZE_LOG_FILE: '/tmp/evil.log',
        NODE_DAEMONIZE_READY_FD: '9',
        NODE_DAEMONIZE_X: 'y',
        NOTIFY_SOCKET: '/run/systemd/notify',
      },
    })
    expect(environ(pid)).toEqual(['EMPTY=', 'FOO=bar', ...ours(log)].sort())
  })

  it('by default the caller\'s environment, minus ours', async () => {
    const saved = { ...process.env }
    process.env.ND6_MARKER = 'm=1 2'
    process.env.NODE_DAEMONIZE_LEAK = 'x'
    process.env.NOTIFY_SOCKET = '/run/systemd/notify'
    let started: { pid: number; log: string }
    try {
      started = await shim()
    } finally {
      for (const k of ['ND6_MARKER', 'NODE_DAEMONIZE_LEAK', 'NOTIFY_SOCKET']) {
        if (saved[k] === undefined) delete process.env[k]
        else process.env[k] = saved[k]
      }
    }
    const expected = Object.entries({ ...saved, ND6_MARKER: 'm=1 2' })
      .filter(([k]) => !k.startsWith('NODE_DAEMONIZE_') && k !== 'NOTIFY_SOCKET')
      .map(([k, v]) => `${k}=${v}`)
    expect(environ(started.pid)).toEqual([...expected, ...ours(started.log)].sort())
  })

  it('clearEnv: exactly a sane PATH and our variables', async () => {
    expect(SAFE_PATH.split(':').every((p) => p.startsWith('/'))).toBe(true)
    const { pid, log } = await shim({ clearEnv: true })
    expect(environ(pid)).toEqual([`PATH=${SAFE_PATH}`, ...ours(log)].sort())
  })

  it('clearEnv with env: env entries are added, and may set PATH', async () => {
    const { pid, log } = await shim({ clearEnv: true, env: { A: '1', PATH: '/opt/app/bin', NODE_DAEMONIZE_X: 'y' } })
    expect(environ(pid)).toEqual(['A=1', 'PATH=/opt/app/bin', ...ours(log)].sort())
  })

  it('as another user: HOME, USER and LOGNAME are the target\'s, unless env gives them', async () => {
    const a = await shim({ clearEnv: true, user: 'nobody' })
    expect(environ(a.pid)).toEqual(
      [`PATH=${SAFE_PATH}`, `HOME=${nobody.home}`, 'USER=nobody', 'LOGNAME=nobody', ...ours(a.log)].sort(),
    )

    // Inherited from the caller (root): replaced, not passed on.
    const b = await shim({ user: 'nobody', env: { HOME: undefined, USER: 'root', LOGNAME: undefined, KEEP: 'k' } })
    expect(environ(b.pid)).toEqual([`HOME=${nobody.home}`, 'USER=root', 'LOGNAME=nobody', 'KEEP=k', ...ours(b.log)].sort())

    const c = await shim({ user: 'nobody' })
    const env = environ(c.pid)
    expect(env).toContain(`HOME=${nobody.home}`)
    expect(env).toContain('USER=nobody')
    expect(env).toContain('LOGNAME=nobody')
  })

  it('as a bare uid: the caller\'s HOME, USER and LOGNAME are dropped', async () => {
    const saved = { HOME: process.env.HOME, USER: process.env.USER, LOGNAME: process.env.LOGNAME }
    Object.assign(process.env, { HOME: '/root', USER: 'root', LOGNAME: 'root' })
    let started: { pid: number; log: string }
    try {
      started = await shim({ user: 54321, group: nobody.gid })
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
    }
    const names = environ(started.pid).map((e) => e.slice(0, e.indexOf('=')))
    expect(names).not.toContain('HOME')
    expect(names).not.toContain('USER')
    expect(names).not.toContain('LOGNAME')
  })

  it('a Node daemon without the preload gets exactly that environment', async () => {
    const log = join(dir, 'node.log')
    const d = await daemonize({ entry: privDaemon, args: [log], preload: false, clearEnv: true, env: { A: '1' }, logFile: log })
    track(d.pid)
    await logged(log, '"setuid0"')
    expect(environ(d.pid)).toEqual(['A=1', `PATH=${SAFE_PATH}`, ...ours(log)].sort())
  })

  it.each([
    ['a key with =', { env: { 'A=B': '1' } }],
    ['an empty key', { env: { '': '1' } }],
    ['a non-string value', { env: { A: 1 as unknown as string } }],
    ['a NUL in a value', { env: { A: 'a\0b' } }],
    ['env not an object', { env: 'A=1' as unknown as Record<string, string> }],
    ['clearEnv not a boolean', { clearEnv: 'yes' as unknown as boolean }],
  ])('refuses %s', async (_name, options) => {
    const log = join(dir, 'bad.log')
    const e = await failure(daemonize({ entry: shimEntry, execPath: execShim, logFile: log, ...options }))
    expect(e).toMatchObject({ stage: 'options', code: 'ERR_INVALID_ARG_VALUE' })
    expect(existsSync(log)).toBe(false)
  })
})

describe('resource limits', () => {
  it('core dumps are off by default: RLIMIT_CORE 0, soft and hard', async () => {
    const { pid } = await shim()
    expect(limit(pid, 'Max core file size')).toEqual(['0', '0'])
  })

  it('coreDumps: true leaves the caller\'s core limit', async () => {
    const { pid } = await shim({ coreDumps: true })
    expect(limit(pid, 'Max core file size')).toEqual(limit('self', 'Max core file size'))
  })

  it('maxOpenFiles sets soft and hard (exec shim)', async () => {
    const { pid } = await shim({ maxOpenFiles: 777 })
    expect(limit(pid, 'Max open files')).toEqual(['777', '777'])
  })

  it('maxOpenFiles sets soft and hard (Node daemon, which raises soft to hard itself)', async () => {
    const log = join(dir, 'node.log')
    const d = await daemonize({ entry: privDaemon, args: [log], logFile: log, maxOpenFiles: 777 })
    track(d.pid)
    await logged(log, '"setuid0"')
    expect(limit(d.pid, 'Max open files')).toEqual(['777', '777'])
    expect(limit(d.pid, 'Max core file size')).toEqual(['0', '0'])
  })

  it('limits are set before the uid change (soft = hard, as nobody)', async () => {
    const [, callerHard] = limit('self', 'Max open files')
    const want = Number(callerHard) - 1
    const log = join(dir, 'order.log')
    const d = await daemonize({ entry: shimEntry, execPath: execShim, preload: false, user: 'nobody', maxOpenFiles: want, logFile: log })
    track(d.pid)
    await logged(log, '{"shim"')
    expect(limit(d.pid, 'Max open files')).toEqual([String(want), String(want)])
    expect(limit(d.pid, 'Max core file size')).toEqual(['0', '0'])
    const order = d.stages.map((r) => r.stage)
    expect(order.indexOf('rlimit')).toBeGreaterThan(-1)
    expect(order.indexOf('rlimit')).toBeLessThan(order.indexOf('credentials'))
  })

  it('a hard limit above the caller\'s is raised with the caller\'s privilege, before the uid change', async () => {
    // Raising a hard limit needs CAP_SYS_RESOURCE: with it (usual root), a
    // daemon as nobody gets the raised limit, which it could not set itself;
    // without it (a container that drops it), the kernel refuses the caller's
    // request at stage rlimit and nothing runs.
    const capEff = BigInt(`0x${readFileSync('/proc/self/status', 'utf8').match(/^CapEff:\s*([0-9a-f]+)$/m)?.[1]}`)
    const CAP_SYS_RESOURCE = 24n
    const [, callerHard] = limit('self', 'Max open files')
    const nrOpen = Number(readFileSync('/proc/sys/fs/nr_open', 'utf8'))
    const want = Math.min(Number(callerHard) + 1000, nrOpen)
    expect(want).toBeGreaterThan(Number(callerHard))
    const launch = daemonize({ entry: shimEntry, execPath: execShim, preload: false, user: 'nobody', maxOpenFiles: want })
    if ((capEff >> CAP_SYS_RESOURCE) & 1n) {
      const d = await launch
      track(d.pid)
      expect(limit(d.pid, 'Max open files')).toEqual([String(want), String(want)])
    } else {
      const e = await failure(launch)
      expect(e).toMatchObject({ stage: 'rlimit', code: 'EPERM', syscall: 'setrlimit' })
      expect(isAlive(e.pid as number)).toBe(false)
    }
  })

  it('a limit the kernel refuses: stage rlimit, nothing left running', async () => {
    const nrOpen = Number(readFileSync('/proc/sys/fs/nr_open', 'utf8'))
    const pidFile = join(dir, 'a.pid')
    const e = await failure(
      daemonize({ entry: shimEntry, execPath: execShim, preload: false, maxOpenFiles: nrOpen + 1, pidFile }),
    )
    expect(e).toMatchObject({ stage: 'rlimit', code: 'EPERM', syscall: 'setrlimit' })
    expect(isAlive(e.pid as number)).toBe(false)
    expect(existsSync(pidFile)).toBe(false)
  })

  it.each([[0], [15], [-1], [2.5], ["64"]])('refuses maxOpenFiles %j', async (n) => {
    const e = await failure(daemonize({ entry: shimEntry, execPath: execShim, maxOpenFiles: n as number }))
    expect(e).toMatchObject({ stage: 'options', code: 'ERR_INVALID_ARG_VALUE' })
  })
})
