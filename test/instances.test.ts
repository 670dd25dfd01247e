// --instances N (docs/supervision.md#instances): a --respawn service runs N
// generations side by side on the same --listen sockets, each with its
// index in NODE_DAEMONIZE_INSTANCE, each restarted on its own; stop ends
// every one and what it left. Real CLI, real nobody, real daemons, state
// read from /proc.
import { existsSync, readFileSync, readlinkSync, realpathSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { daemonize } from '../src/index.js'
import { native } from '../src/native.js'
import { readSupervisorState, statePathOf } from '../src/files/state-file.js'
import { fixtures } from './helpers/caller.js'
import { runCli } from './helpers/cli.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { type Answer, everyInstance, untilAsync } from './helpers/instances.js'
import { expectStartRefused, startNamed, useNamesRoot } from './helpers/names.js'
import { freePort } from './helpers/net.js'
import { isAlive, procStat } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'
import { sessionMembers } from './helpers/services.js'
import { until } from './helpers/wait.js'

cleanUpScratchDirs()
cleanUpDaemons()
const current = useNamesRoot()

const app = join(fixtures, 'instances-http.mjs')
const nobody = native().lookupUser('nobody')

/**
 * The exec-time environment of an instance the state record names, once it
 * has exec'd Node: the record has its pid from the fork on, and until the
 * exec /proc/<pid>/environ is still the supervisor's.
 */
async function execEnviron(pid: number): Promise<Map<string, string>> {
  const node = realpathSync(process.execPath)
  await until(`pid ${pid} to exec ${node}`, () => {
    try {
      return readlinkSync(`/proc/${pid}/exe`) === node
    } catch {
      return false
    }
  })
  return environ(pid)
}

/** The exec-time environment of pid (/proc/<pid>/environ keeps it whatever the process did to process.env). */
function environ(pid: number): Map<string, string> {
  const out = new Map<string, string>()
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) {
    const eq = kv.indexOf('=')
    if (eq > 0) out.set(kv.slice(0, eq), kv.slice(eq + 1))
  }
  return out
}

function uidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
}

describe('--instances N', () => {
  it(
    'N=3 as nobody on one --listen port: every instance serves with its index, one killed comes back with it, status lists them, stop leaves nothing',
    async () => {
      const root = current()
      const port = await freePort()
      const { result } = await startNamed(
        [app, '--name', 'web', '--respawn', '--respawn-delay', '100ms', '--instances', '3', '--listen', `tcp:127.0.0.1:${port}`, '--wait-ready', '15s', '--user', 'nobody'],
        root.env,
      )
      const supervisor = result.supervisorPid as number
      const pidFile = result.pidFile as string
      expect(typeof supervisor).toBe('number')

      const first = await everyInstance(port, 3, 'every instance to answer')
      for (const [i, a] of first) {
        track(a.pid)
        // Its index, from the contract (the preload took the variable out of process.env).
        expect(a.instance).toBe(i)
        expect(a.env).toBeNull()
        expect(environ(a.pid).get('NODE_DAEMONIZE_INSTANCE')).toBe(String(i))
        expect(uidOf(a.pid)).toBe(nobody?.uid)
        expect(procStat(a.pid).ppid).toBe(supervisor)
      }
      expect(new Set([...first.values()].map((a) => a.pid)).size).toBe(3)

      // The state record names every instance (version 5), and status says so.
      const st = readSupervisorState(statePathOf(pidFile), 0)
      expect(st?.instances?.map((i) => i.pid)).toEqual([0, 1, 2].map((i) => first.get(i)?.pid))
      const shown = await runCli(['status', 'web'], root.env)
      expect(shown.code).toBe(0)
      expect(shown.out).toContain(`supervisor pid ${supervisor}`)
      expect(shown.out).toContain(`3 instances: pids ${[0, 1, 2].map((i) => first.get(i)?.pid).join(', ')}`)
      const json = await runCli(['status', 'web', '--json'], root.env)
      expect((JSON.parse(json.out) as { supervisor: { instances: unknown } }).supervisor.instances).toMatchObject(
        [0, 1, 2].map((i) => ({ index: i, pid: first.get(i)?.pid, phase: 'up', ready: true, restarts: 0, release: 0 })),
      )

      // kill -9 of instance 1: it comes back with index 1, the others keep their pids.
      const victim = first.get(1)?.pid as number
      process.kill(victim, 'SIGKILL')
      await untilGone(victim)
      let back: Answer | undefined
      await untilAsync(
        'instance 1 to be back and answer',
        async () => {
          const pid = readSupervisorState(statePathOf(pidFile), 0)?.instances?.[1]?.pid
          if (pid === undefined || pid === victim) return false
          back = (await everyInstance(port, 3, 'every instance to answer again')).get(1)
          return back?.pid === pid
        },
        () => back,
      )
      track(back?.pid as number)
      expect(environ(back?.pid as number).get('NODE_DAEMONIZE_INSTANCE')).toBe('1')
      expect(isAlive(first.get(0)?.pid as number)).toBe(true)
      expect(isAlive(first.get(2)?.pid as number)).toBe(true)
      const after = readSupervisorState(statePathOf(pidFile), 0)
      expect(after?.instances?.map((i) => i.pid)).toEqual([first.get(0)?.pid, back?.pid, first.get(2)?.pid])
      expect(after?.restarts).toBe(1)

      // stop: every instance, and nothing of the service's session left; the files go.
      const sid = procStat(supervisor).session
      const stopped = await runCli(['stop', 'web'], root.env)
      expect(stopped.code).toBe(0)
      for (const pid of [supervisor, first.get(0)?.pid, back?.pid, first.get(2)?.pid]) await untilGone(pid as number)
      expect(sessionMembers(sid)).toEqual([])
      expect(existsSync(pidFile)).toBe(false)
      expect(existsSync(statePathOf(pidFile))).toBe(false)
    },
    90_000,
  )

  it('without --listen (the API): N identical workers, each with its index and its own crash-loop tally', async () => {
    const dir = scratchDir('nd-instances-')
    const pidFile = join(dir, 'w.pid')
    // Two deaths within the window give up: one death of each instance must not (a tally each).
    const respawn = { delayMs: 100, limit: 2, windowMs: 600_000 }
    const d = await daemonize({ entry: join(fixtures, 'daemon-idle.js'), pidFile, respawn, instances: 2 })
    track(d.supervisorPid as number)
    let st = readSupervisorState(statePathOf(pidFile), 0)
    await until('both instances to run', () => {
      st = readSupervisorState(statePathOf(pidFile), 0)
      return st?.instances?.every((i) => i.pid !== undefined) === true
    })
    const pids = st?.instances?.map((i) => i.pid as number) ?? []
    for (const p of pids) track(p)
    expect(await Promise.all(pids.map(async (p) => (await execEnviron(p)).get('NODE_DAEMONIZE_INSTANCE')))).toEqual(['0', '1'])
    expect(st?.daemonPid).toBe(pids[0])
    for (const i of [0, 1]) {
      process.kill(pids[i], 'SIGKILL')
      await untilGone(pids[i])
      await until(`instance ${i} to be back`, () => {
        const p = readSupervisorState(statePathOf(pidFile), 0)?.instances?.[i]?.pid
        return p !== undefined && p !== pids[i] ? p : undefined
      })
      pids[i] = track(readSupervisorState(statePathOf(pidFile), 0)?.instances?.[i]?.pid as number)
      expect((await execEnviron(pids[i])).get('NODE_DAEMONIZE_INSTANCE')).toBe(String(i))
    }
    st = readSupervisorState(statePathOf(pidFile), 0)
    expect(st).toMatchObject({ state: 'running', deaths: 2, restarts: 2 })
    // Workers started without --wait-ready: no readiness can gate a rolling restart, which is refused, nothing started.
    const refused = await runCli(['restart', '--graceful', '--pid-file', pidFile])
    expect(refused.code).toBe(1)
    expect(refused.err).toMatch(/started without --wait-ready/)
    const stopped = await runCli(['stop', '--pid-file', pidFile])
    expect(stopped.code).toBe(0)
    for (const p of [d.supervisorPid as number, ...pids]) await untilGone(p)
  })

  it.each([
    [['--instances', '3'], /instances needs respawn/],
    [['--respawn', '--instances', '0'], /--instances takes a whole number from 1 to 64 or max, got '0'/],
    [['--respawn', '--instances', '65'], /--instances takes a whole number from 1 to 64 or max, got '65'/],
    [['--respawn', '--instances', '2.5'], /--instances takes a whole number/],
    [['--respawn', '--instances', 'all'], /--instances takes a whole number/],
  ])('start %j is refused at stage options, exit 2, nothing started', async (flags, message) => {
    await expectStartRefused(current(), join(fixtures, 'daemon-idle.js'), flags, message)
  })

  it('the API refuses a bad instances value, and instances without respawn, at stage options', async () => {
    const dir = scratchDir('nd-instances-')
    const base = { entry: join(fixtures, 'daemon-idle.js'), pidFile: join(dir, 'x.pid') }
    for (const [opts, message] of [
      [{ respawn: true, instances: 65 }, /instances must be a whole number from 1 to 64 or 'max', got 65/],
      [{ respawn: true, instances: '2' }, /instances must be a whole number .* got '2'/],
      [{ instances: 2 }, /instances needs respawn/],
    ] as const) {
      await expect(daemonize({ ...base, ...(opts as object) })).rejects.toMatchObject({ stage: 'options', message: expect.stringMatching(message) })
    }
    expect(existsSync(base.pidFile)).toBe(false)
  })

  it('restart --graceful refuses --instances as a start option (exit 2): the service keeps the instances it was started with', async () => {
    const r = await runCli(['restart', '--graceful', '--pid-file', '/nonexistent/x.pid', '--instances', '2'])
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/--graceful takes no --instances: the service keeps the instances it was started with/)
  })

  it('a restart NAME that changes something of a --listen --wait-ready service with instances is a stop + start (the rolling restart runs the saved command line)', async () => {
    const root = current()
    const port = await freePort()
    const { result } = await startNamed([app, '--name', 'two', '--respawn', '--instances', '2', '--listen', `tcp:127.0.0.1:${port}`, '--wait-ready', '15s'], root.env)
    const pidFile = result.pidFile as string
    const before = [...(await everyInstance(port, 2, 'both instances to answer')).values()].map((a) => track(a.pid))
    const r = await runCli(['restart', 'two', '--env', 'CHANGED=1'], root.env)
    expect(r.code).toBe(0)
    for (const p of [result.supervisorPid as number, ...before]) await untilGone(p)
    const st = readSupervisorState(statePathOf(pidFile), 0)
    expect(st?.supervisorPid).not.toBe(result.supervisorPid)
    track(st?.supervisorPid as number)
    const after = [...(await everyInstance(port, 2, 'both new instances to answer')).values()].map((a) => track(a.pid))
    expect(after.some((p) => before.includes(p))).toBe(false)
    expect((await runCli(['stop', 'two'], root.env)).code).toBe(0)
    for (const p of [st?.supervisorPid as number, ...after]) await untilGone(p)
  })

  it('--instances max is the CPUs this process may use, and is saved as given in the spec', async () => {
    const root = current()
    // The affinity mask under a cgroup CPU quota, if any (test/instances-max.test.ts tests the quota).
    const { usableCpus } = await import('../src/proc/cpu-limit.js')
    const { result } = await startNamed([join(fixtures, 'daemon-idle.js'), '--name', 'many', '--respawn', '--instances', 'max'], root.env)
    const pidFile = result.pidFile as string
    const st = readSupervisorState(statePathOf(pidFile), 0)
    expect(st?.instances?.length).toBe(usableCpus(64))
    const spec = JSON.parse(readFileSync(join(root.specs, 'many.json'), 'utf8')) as { options: { instances?: unknown } }
    expect(spec.options.instances).toBe('max')
    await until('every instance to run', () => readSupervisorState(statePathOf(pidFile), 0)?.instances?.every((i) => i.pid !== undefined) === true)
    const pids = readSupervisorState(statePathOf(pidFile), 0)?.instances?.map((i) => i.pid as number) ?? []
    for (const p of pids) track(p)
    expect((await runCli(['stop', 'many'], root.env)).code).toBe(0)
    for (const p of [result.supervisorPid as number, ...pids]) await untilGone(p)
  })
})
