// --instances N when an instance's respawn policy gives up (issue 21,
// "degraded"): that instance alone stops for good, flagged gave-up in the
// state record with an instance-gave-up event, while the others serve on
// and keep their pids; status says `degraded (2/3 instances up)` with LSB 0
// and a line per instance, --json and list carry every instance, stop names
// every pid it stopped; when every instance has given up the service fails
// (LSB 1). Real CLI, real nobody, real daemons, state read from /proc.
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { ListEntry } from '../src/names/list.js'
import { readSupervisorState, statePathOf } from '../src/files/state-file.js'
import { fixtures } from './helpers/caller.js'
import { runCli } from './helpers/cli.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { everyInstance } from './helpers/instances.js'
import type { InstanceStatus } from '../src/control/instances-status.js'
import { startNamed, useNamesRoot } from './helpers/names.js'
import { freePort } from './helpers/net.js'
import { isAlive, procStatus } from './helpers/proc.js'
import { cleanUpScratchDirs } from './helpers/scratch.js'
import { events } from './helpers/services.js'
import { until } from './helpers/wait.js'

cleanUpScratchDirs()
cleanUpDaemons()
const current = useNamesRoot()

const app = join(fixtures, 'instances-degraded.mjs')

/** status --json's entry for an instance, as the API types it. */
type Instance = InstanceStatus

describe('--instances N: one instance gives up, the others serve on', () => {
  it(
    'instance 2 of 3 crash-loops: it gives up alone, status says degraded (2/3 instances up) with LSB 0, the others keep serving with their pids; --json, list and stop name every instance',
    async () => {
      const root = current()
      const port = await freePort()
      const { result } = await startNamed(
        [app, '--name', 'deg', '--respawn', '--respawn-delay', '50ms', '--instances', '3', '--listen', `tcp:127.0.0.1:${port}`, '--wait-ready', '15s', '--user', 'nobody', '--', '2'],
        root.env,
      )
      const supervisor = result.supervisorPid as number
      const pidFile = result.pidFile as string
      const log = result.logFile as string
      // Hardening round of issue 21, "degraded": an instance whose policy gave up ended the whole service.
      await until('instance 2 to give up', () => readSupervisorState(statePathOf(pidFile), 0)?.instances?.[2]?.phase === 'gave-up', { timeoutMs: 30_000 })
      const first = await everyInstance(port, 2, 'instances 0 and 1 to answer')
      const pids = [0, 1].map((i) => track(first.get(i)?.pid as number))
      expect(isAlive(supervisor)).toBe(true)

      const gaveUp = events(log).filter((e) => e.event === 'instance-gave-up')
      expect(gaveUp).toHaveLength(1)
      expect(gaveUp[0]).toMatchObject({ level: 50, instance: 2, reason: 'crash-loop' })
      expect(gaveUp[0].msg).toMatch(/^instance 2 stopped for good \(crash loop: 5 deaths within 60000 ms; last: exit code 1\); the other instances serve on$/)
      expect(events(log).filter((e) => e.event === 'gave-up' || e.event === 'done')).toEqual([])

      // status: degraded, LSB 0, a line per instance.
      const shown = await runCli(['status', 'deg'], root.env)
      expect(shown.code, shown.err).toBe(0)
      const [head, ...table] = shown.out.trimEnd().split('\n')
      expect(head).toMatch(new RegExp(`^deg: degraded \\(2/3 instances up\\) \\(supervisor pid ${supervisor}, .*3 instances: pids ${pids[0]}, ${pids[1]}, \\(instance 2 gave up\\)\\)$`))
      expect(table[0].trim().split(/\s+/)).toEqual(['INSTANCE', 'PID', 'UPTIME', 'RESTARTS', 'RSS', 'READY', 'RELEASE', 'PHASE'])
      expect(table[1]).toMatch(new RegExp(`^  0 +${pids[0]} +[0-9.]+ (ms|s) +0 +[0-9.]+[KM] +yes +0 +up$`))
      expect(table[2]).toMatch(new RegExp(`^  1 +${pids[1]} +[0-9.]+ (ms|s) +0 +[0-9.]+[KM] +yes +0 +up$`))
      expect(table[3]).toMatch(/^ {2}2 +- +- +4 +- +- +- +gave up$/)

      // --json: the same per instance; RSS as /proc says of that very pid.
      const json = await runCli(['status', 'deg', '--json'], root.env)
      expect(json.code).toBe(0)
      const st = JSON.parse(json.out) as { state: string; code: number; supervisor: { instances: Instance[] } }
      expect(st).toMatchObject({ state: 'degraded', code: 0 })
      const inst = st.supervisor.instances
      expect(inst.map((i) => [i.index, i.phase, i.pid])).toEqual([
        [0, 'up', pids[0]],
        [1, 'up', pids[1]],
        [2, 'gave-up', undefined],
      ])
      for (const i of [0, 1]) {
        expect(inst[i]).toMatchObject({ ready: true, restarts: 0, release: 0 })
        expect(inst[i].uptimeMs).toBeGreaterThan(0)
        // Resident memory of a Node process: several MB, and within a factor of /proc's own reading now.
        const vmRss = Number(/(\d+) kB/.exec(procStatus(pids[i]).VmRSS)?.[1]) * 1024
        expect(inst[i].rssBytes).toBeGreaterThan(vmRss / 2)
        expect(inst[i].rssBytes).toBeLessThan(vmRss * 2)
      }
      expect(inst[2]).toMatchObject({ restarts: 4, ready: false })
      expect(inst[2].rssBytes).toBeUndefined()

      // list: degraded 2/3, and every instance in --json.
      const listed = await runCli(['list', '--json'], root.env)
      const entry = (JSON.parse(listed.out) as ListEntry[]).find((e) => e.name === 'deg') as ListEntry
      expect(entry).toMatchObject({ state: 'degraded', pid: pids[0], supervisorPid: supervisor, instancesUp: { up: 2, of: 3 } })
      expect(entry.instances?.map((i) => [i.index, i.phase, i.pid])).toEqual([
        [0, 'up', pids[0]],
        [1, 'up', pids[1]],
        [2, 'gave-up', undefined],
      ])
      const table2 = await runCli(['list'], root.env)
      expect(table2.out.split('\n').find((l) => l.startsWith('deg '))).toMatch(new RegExp(`^deg +degraded 2/3 +${pids[0]} +${supervisor} `))

      // Still serving, with the same pids.
      const again = await everyInstance(port, 2, 'instances 0 and 1 to answer again')
      expect([0, 1].map((i) => again.get(i)?.pid)).toEqual(pids)

      // stop names every instance it stopped.
      const stopped = await runCli(['stop', 'deg'], root.env)
      expect(stopped.code, stopped.err).toBe(0)
      expect(stopped.out.trim()).toBe(
        `stopped the service: the supervisor (pid ${supervisor}) stopped the 2 of its 3 instances that ran (pids ${pids[0]} and ${pids[1]}) and exited; removed ${pidFile}`,
      )
      for (const p of [supervisor, ...pids]) await untilGone(p)
    },
    90_000,
  )

  it.each([
    ['an exit listed in --no-respawn-exit', ['--no-respawn-exit', '7'], '1:7', 'no-respawn-exit', 'exited with exit code 7, listed in --no-respawn-exit: not restarted'],
    ['a clean exit under --respawn on-failure', [], '1:0', 'clean-exit', 'exited with code 0; --respawn on-failure does not restart a clean exit'],
  ])(
    'instance 1 of 3 ends with %s: it alone stops for good at once, the others serve on (degraded 2/3)',
    async (_what, flags, crash, reason, why) => {
      const root = current()
      const port = await freePort()
      const { result } = await startNamed(
        [app, '--name', 'ends', '--respawn', '--respawn-delay', '50ms', ...flags, '--instances', '3', '--listen', `tcp:127.0.0.1:${port}`, '--wait-ready', '15s', '--user', 'nobody', '--', crash],
        root.env,
      )
      const supervisor = result.supervisorPid as number
      const pidFile = result.pidFile as string
      await until('instance 1 to give up', () => readSupervisorState(statePathOf(pidFile), 0)?.instances?.[1]?.phase === 'gave-up')
      const serving = await everyInstance(port, 2, 'instances 0 and 2 to answer')
      expect([...serving.keys()].sort()).toEqual([0, 2])
      for (const a of serving.values()) track(a.pid)
      const gaveUp = events(result.logFile as string).filter((e) => e.event === 'instance-gave-up')
      expect(gaveUp).toEqual([expect.objectContaining({ instance: 1, reason, msg: `instance 1 stopped for good (${why}); the other instances serve on` })])
      const st = readSupervisorState(statePathOf(pidFile), 0)
      expect(st?.instances?.[1]).toMatchObject({ phase: 'gave-up', restarts: 0 })
      const shown = await runCli(['status', 'ends', '--json'], root.env)
      expect(shown.code).toBe(0)
      expect(JSON.parse(shown.out)).toMatchObject({ state: 'degraded', code: 0 })
      expect(isAlive(supervisor)).toBe(true)
      const stopped = await runCli(['stop', 'ends'], root.env)
      expect(stopped.code, stopped.err).toBe(0)
      for (const p of [supervisor, ...[...serving.values()].map((a) => a.pid)]) await untilGone(p)
    },
    60_000,
  )

  it('an instance\'s RSS is read only while its pid is the recorded process (start time and uid): a record whose start time differs gets none', async () => {
    const root = current()
    const { result } = await startNamed([app, '--name', 'rss', '--respawn', '--instances', '3', '--wait-ready', '15s', '--user', 'nobody', '--', ''], root.env)
    const supervisor = result.supervisorPid as number
    const pidFile = result.pidFile as string
    const pids = await until('every instance to be up', () => {
      const got = readSupervisorState(statePathOf(pidFile), 0)?.instances?.map((i) => (i.phase === 'up' && i.ready ? i.pid : undefined))
      return got?.every((p) => p !== undefined) ? (got as number[]) : undefined
    })
    for (const p of pids) track(p)
    const rss = async () =>
      ((JSON.parse((await runCli(['status', 'rss', '--json'], root.env)).out) as { supervisor: { instances: Instance[] } }).supervisor.instances).map((i) => i.rssBytes)
    expect((await rss()).every((b) => b !== undefined && b > 1024 * 1024)).toBe(true)
    // The supervisor stopped (it would write the record again), instance 1's recorded start time one tick off.
    const ticksAt = 984 + 8 * 1 // version 5: instance_start_ticks[1]
    const fd = openSync(statePathOf(pidFile), 'r+')
    process.kill(supervisor, 'SIGSTOP')
    try {
      const b = Buffer.alloc(8)
      readSync(fd, b, 0, 8, ticksAt)
      const patched = Buffer.alloc(8)
      patched.writeBigUInt64LE(b.readBigUInt64LE() + 1n)
      writeSync(fd, patched, 0, 8, ticksAt)
      const got = await rss()
      expect(got[1]).toBeUndefined()
      expect(got[0]).toBeGreaterThan(1024 * 1024)
      expect(got[2]).toBeGreaterThan(1024 * 1024)
      writeSync(fd, b, 0, 8, ticksAt)
    } finally {
      process.kill(supervisor, 'SIGCONT')
      closeSync(fd)
    }
    expect((await runCli(['stop', 'rss'], root.env)).code).toBe(0)
    for (const p of [supervisor, ...pids]) await untilGone(p)
  })

  it(
    'every instance crash-loops after the launch: each gives up on its own, and when the last one has the service fails (LSB 1)',
    async () => {
      const root = current()
      const port = await freePort()
      const { result } = await startNamed(
        [app, '--name', 'allfail', '--respawn', '--respawn-delay', '50ms', '--instances', '3', '--listen', `tcp:127.0.0.1:${port}`, '--wait-ready', '15s', '--user', 'nobody', '--', 'all-later'],
        root.env,
      )
      const supervisor = result.supervisorPid as number
      await untilGone(supervisor, 60_000)
      const log = result.logFile as string
      const ev = events(log)
      // Two instances gave up on their own, then the last one ended the service.
      const alone = ev.filter((e) => e.event === 'instance-gave-up').map((e) => e.instance)
      expect(alone).toHaveLength(2)
      expect(new Set(alone).size).toBe(2)
      expect(ev.filter((e) => e.event === 'gave-up')).toHaveLength(1)
      expect(ev.at(-1)?.event).toBe('gave-up')
      const shown = await runCli(['status', 'allfail', '--json'], root.env)
      expect(shown.code).toBe(1)
      const st = JSON.parse(shown.out) as { state: string; message: string; supervisor: { instances: Instance[] } }
      expect(st.state).toBe('failed')
      expect(st.message).toMatch(/^failed: gave up after 5 deaths within 1 min/)
      expect(st.supervisor.instances.filter((i) => i.phase === 'gave-up').map((i) => i.index)).toEqual([0, 1, 2].filter((i) => alone.includes(i)))
      expect(readFileSync(log, 'utf8')).not.toContain('"event":"stopped"')
    },
    90_000,
  )
})
