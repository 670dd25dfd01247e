// Rolling graceful restart (restart --graceful, restart NAME, SIGUSR2) of a
// service with --instances N > 1 (docs/supervision.md#rolling-restart): one
// instance at a time, new i ready before old i gets SIGTERM, then new i+1;
// under clients that never retry, nothing fails; a broken release stops the
// roll with the old instances serving; a second request meanwhile is
// refused. Real CLI, real daemons, state read from the supervisor's record
// and the log's event lines.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readSupervisorState, statePathOf, type SupervisorState } from '../src/files/state-file.js'
import { fixtures } from './helpers/caller.js'
import { runCli } from './helpers/cli.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { startNamed, useNamesRoot } from './helpers/names.js'
import { freePort } from './helpers/net.js'
import { everyInstance, startRollLoad } from './helpers/roll-load.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'
import { until } from './helpers/wait.js'

cleanUpScratchDirs()
cleanUpDaemons()
const current = useNamesRoot()

const app = join(fixtures, 'rolling-http.mjs')

interface Event {
  event: string
  instance?: number
  daemonPid?: number
  oldPid?: number
}

/** The supervisor's event lines in the log, in order. */
function events(logFile: string): Event[] {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"supervisor":true'))
    .map((l) => JSON.parse(l) as Event)
}

/** Start NAME with N instances on one port, RELEASE_FILE holding `release`; wait until every instance answers. */
async function startRolling(name: string, n: number, release = 'v1') {
  const root = current()
  const port = await freePort()
  const releaseFile = join(scratchDir('nd-release-', 0o755), 'release')
  writeFileSync(releaseFile, `${release}\n`, { mode: 0o644 })
  const { result } = await startNamed(
    [app, '--name', name, '--respawn', '--instances', String(n), '--listen', `tcp:127.0.0.1:${port}`, '--wait-ready', '10s', '--env', `RELEASE_FILE=${releaseFile}`],
    root.env,
  )
  const supervisor = result.supervisorPid as number
  const pidFile = result.pidFile as string
  const logFile = result.logFile as string
  const state = () => readSupervisorState(statePathOf(pidFile), 0) as SupervisorState
  const first = await everyInstance(port, n)
  const pids = state().instances?.map((i) => i.pid as number) ?? []
  for (const p of pids) track(p)
  expect(pids).toEqual([...Array(n).keys()].map((i) => first.get(i)?.pid))
  return { root, port, releaseFile, supervisor, pidFile, logFile, state, pids }
}

/** For every instance i: new i's graceful-start < its graceful-ready < old i's drained; and new i ready before new i+1 starts. */
function expectRollOrder(log: Event[], oldPids: number[], newPids: number[]): void {
  const at = (pred: (e: Event) => boolean, what: string) => {
    const k = log.findIndex(pred)
    if (k < 0) throw new Error(`no ${what} in the log: ${JSON.stringify(log.map((e) => [e.event, e.instance, e.daemonPid]))}`)
    return k
  }
  oldPids.forEach((old, i) => {
    const start = at((e) => e.event === 'graceful-start' && e.instance === i && e.daemonPid === newPids[i], `graceful-start of instance ${i}`)
    const ready = at((e) => e.event === 'graceful-ready' && e.instance === i && e.daemonPid === newPids[i] && e.oldPid === old, `graceful-ready of instance ${i}`)
    const drained = at((e) => e.event === 'drained' && e.instance === i && e.daemonPid === old, `drained of old instance ${i}`)
    expect(start).toBeLessThan(ready)
    // The old one got SIGTERM with the graceful-ready line, so it is gone only after it.
    expect(ready).toBeLessThan(drained)
    if (i + 1 < oldPids.length) {
      const nextStart = at((e) => e.event === 'graceful-start' && e.instance === i + 1, `graceful-start of instance ${i + 1}`)
      expect(ready).toBeLessThan(nextStart)
    }
  })
}

describe('rolling restart (--instances N)', () => {
  it.each([2, 4])(
    'restart --graceful of %i instances under per-request and busy keep-alive clients that never retry: 0 failed, every pid new, every index answers, ready(new i) before TERM(old i)',
    async (n) => {
      const d = await startRolling('roll', n)
      const load = startRollLoad(d.port, { plain: 4, keepAlive: 4 })
      await until('the clients to be under way', () => load.stats.ok.plain > 20 && load.stats.ok.keepAlive > 20)
      const r = await runCli(['restart', '--graceful', 'roll', '--json'], d.root.env)
      const after = d.state()
      const newPids = after.instances?.map((i) => i.pid as number) ?? []
      for (const p of newPids) track(p)
      // Traffic goes on against the new instances for a moment before the count.
      const okThen = load.stats.ok.plain + load.stats.ok.keepAlive
      await until('more answers after the roll', () => load.stats.ok.plain + load.stats.ok.keepAlive > okThen + 50)
      const stats = await load.stop()
      expect(r.err).toMatch(new RegExp(`rolling restart of ${n} instances, one at a time: waiting up to \\d+ s for the verdict`))
      expect(r.code).toBe(0)
      const result = JSON.parse(r.out) as { instances: { index: number; pid: number; release: number }[]; message: string }
      expect(result.instances).toEqual(newPids.map((pid, index) => ({ index, pid, release: 1 })))
      expect(result.message).toMatch(new RegExp(`rolling restart: ${n} instances replaced one at a time`))
      expect({ failed: stats.failed, errors: stats.errors }).toEqual({ failed: { plain: 0, keepAlive: 0 }, errors: [] })
      // Every pid is new; the old ones are gone.
      for (const [i, p] of newPids.entries()) expect(d.pids).not.toContain(p), expect(p).toBeGreaterThan(0), expect(i).toBeLessThan(n)
      for (const p of d.pids) await untilGone(p)
      expect(after.instances?.map((i) => i.release)).toEqual(Array(n).fill(1))
      // A replacement counts as its instance's restart.
      expect(after.instances?.map((i) => i.restarts)).toEqual(Array(n).fill(1))
      expect(after.restarts).toBe(n)
      const answered = await everyInstance(d.port, n)
      expect([...answered.keys()].sort()).toEqual([...Array(n).keys()])
      for (const [i, a] of answered) expect(a.pid).toBe(newPids[i])
      await until('every old instance drained in the log', () => events(d.logFile).filter((e) => e.event === 'drained').length >= n)
      expectRollOrder(events(d.logFile), d.pids, newPids)
    },
    120_000,
  )

  it('a broken release stops the roll after instance 0: exit 1, the rest keep the old release and serve, the message and --json say which runs which', async () => {
    const d = await startRolling('bad', 3)
    // The code on disk changes: the new instance 0 serves v2 and then breaks the release for the next.
    writeFileSync(d.releaseFile, 'v2-once\n')
    const load = startRollLoad(d.port, { plain: 2, keepAlive: 0 })
    const r = await runCli(['restart', '--graceful', 'bad', '--json'], d.root.env)
    const stats = await load.stop()
    expect(r.code).toBe(1)
    const err = (JSON.parse(r.out) as { error: { code: string; message: string; instances: { index: number; pid: number; release: number }[] } }).error
    expect(err.code).toBe('ERR_DAEMON_EXITED')
    expect(err.message).toMatch(/the new generation of instance 1 \(pid \d+\) exited with code 1 before it called ready\(\)/)
    expect(err.message).toContain("instance 0 runs release 1 (the new one); instances 1-2 run release 0 (the launch's)")
    expect(r.err).toContain("instances 1-2 run release 0 (the launch's)")
    const st = d.state()
    expect(st.instancesSummary?.rollStoppedAt).toBe(1)
    expect(st.instancesSummary?.rollingAt).toBeUndefined()
    expect(err.instances).toEqual([
      { index: 0, pid: st.instances?.[0]?.pid, release: 1 },
      { index: 1, pid: d.pids[1], release: 0 },
      { index: 2, pid: d.pids[2], release: 0 },
    ])
    track(st.instances?.[0]?.pid as number)
    // The old instances 1 and 2 still serve, and instance 0 the new release.
    const answered = await everyInstance(d.port, 3)
    expect(answered.get(0)?.release).toBe('v2')
    expect(answered.get(1)).toMatchObject({ pid: d.pids[1], release: 'v1' })
    expect(answered.get(2)).toMatchObject({ pid: d.pids[2], release: 'v1' })
    expect(stats.failed).toEqual({ plain: 0, keepAlive: 0 })
  }, 90_000)

  it('a second request during a roll is refused (EBUSY, exit 1); the roll completes', async () => {
    const d = await startRolling('busy', 2)
    writeFileSync(d.releaseFile, 'slow\n') // each new instance takes 1.5 s to be ready
    const first = runCli(['restart', '--graceful', 'busy'], d.root.env)
    await until('the roll to be under way', () => {
      const st = d.state()
      return st.graceful.seq > st.graceful.done
    })
    const second = await runCli(['restart', '--graceful', 'busy', '--json'], d.root.env)
    expect(second.code).toBe(1)
    const err = (JSON.parse(second.out) as { error: { code: string; message: string } }).error
    expect(err.code).toBe('EBUSY')
    expect(err.message).toMatch(/a graceful restart is already in progress/)
    const done = await first
    expect(done.code).toBe(0)
    const after = d.state()
    for (const p of after.instances?.map((i) => i.pid as number) ?? []) track(p)
    expect(after.instances?.map((i) => i.release)).toEqual([1, 1])
    expect(after.graceful.seq).toBe(1)
  }, 90_000)

  it('a wait that ends before the verdict exits 3 (ERR_DAEMON_RESTART_PENDING) and says where the roll is; the roll goes on and completes', async () => {
    const d = await startRolling('pending', 2)
    writeFileSync(d.releaseFile, 'slow\n') // each new instance takes 1.5 s to be ready
    const r = await runCli(['restart', '--graceful', 'pending', '--timeout', '500ms', '--json'], d.root.env)
    expect(r.code).toBe(3)
    const err = (JSON.parse(r.out) as { error: { code: string; message: string } }).error
    expect(err.code).toBe('ERR_DAEMON_RESTART_PENDING')
    expect(err.message).toMatch(/the rolling restart replaces instance 0 of 0-1/)
    const after = await until('the roll to complete', () => {
      const st = d.state()
      return st.graceful.done === 1 ? st : undefined
    })
    for (const p of after.instances?.map((i) => i.pid as number) ?? []) track(p)
    expect(after.graceful.outcome).toBe('ready')
    expect(after.instances?.map((i) => i.release)).toEqual([1, 1])
  }, 90_000)

  it('an old instance that dies while its new one starts: the new one takes over when ready (no second generation), and the roll completes', async () => {
    const d = await startRolling('dies', 2)
    writeFileSync(d.releaseFile, 'slow\n') // each new instance takes 1.5 s to be ready
    const roll = runCli(['restart', '--graceful', 'dies'], d.root.env)
    const next = await until("instance 1's new generation to start", () => d.state().instances?.[1]?.nextPid)
    track(next)
    process.kill(d.pids[1], 'SIGKILL')
    const r = await roll
    expect(r.code).toBe(0)
    const after = d.state()
    for (const p of after.instances?.map((i) => i.pid as number) ?? []) track(p)
    expect(after.instances?.[1]?.pid).toBe(next)
    expect(after.instances?.map((i) => i.release)).toEqual([1, 1])
    const log = events(d.logFile)
    expect(log.find((e) => e.event === 'graceful-takes-over')).toMatchObject({ instance: 1, daemonPid: next })
    // Its death was handled by the new generation: no respawn of instance 1 was scheduled or started.
    expect(log.filter((e) => (e.event === 'restart' || e.event === 'start') && e.instance === 1 && e.daemonPid !== d.pids[1])).toEqual([])
    expect(log.find((e) => e.event === 'graceful-ready' && e.instance === 1)).toMatchObject({ daemonPid: next })
  }, 90_000)

  it('SIGUSR2 to the supervisor rolls too: every instance replaced, release 1, in order', async () => {
    const d = await startRolling('usr2', 3)
    process.kill(d.supervisor, 'SIGUSR2')
    const after = await until('the roll to be decided', () => {
      const st = d.state()
      return st.graceful.seq === 1 && st.graceful.done === 1 ? st : undefined
    })
    expect(after.graceful.outcome).toBe('ready')
    const newPids = after.instances?.map((i) => i.pid as number) ?? []
    for (const p of newPids) track(p)
    for (const p of newPids) expect(d.pids).not.toContain(p)
    expect(after.instances?.map((i) => i.release)).toEqual([1, 1, 1])
    for (const p of d.pids) await untilGone(p)
    // The supervisor logs each drain once it reaped the old one.
    await until('every old instance drained in the log', () => events(d.logFile).filter((e) => e.event === 'drained').length >= 3)
    expectRollOrder(events(d.logFile), d.pids, newPids)
  }, 90_000)

  it('restart NAME of a --listen --wait-ready service with instances (nothing changed) is the rolling restart, not a stop + start', async () => {
    const d = await startRolling('plainrestart', 2)
    const r = await runCli(['restart', 'plainrestart'], d.root.env)
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/rolling restart: 2 instances replaced one at a time/)
    const after = d.state()
    for (const p of after.instances?.map((i) => i.pid as number) ?? []) track(p)
    // The same supervisor: nothing was stopped.
    expect(after.supervisorPid).toBe(d.supervisor)
    expect(after.instances?.map((i) => i.release)).toEqual([1, 1])
  }, 90_000)
})
