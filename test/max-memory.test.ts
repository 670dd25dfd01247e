// --max-memory SIZE (API maxMemoryBytes; docs/supervision.md#max-memory): the
// supervisor reads each instance's RSS from /proc/<pid>/statm once a second;
// over the limit at two readings in a row, that instance is replaced — with
// --listen --wait-ready gracefully (new one ready, then the old one gets
// TERM and drains), else by TERM and a restart without backoff. Neither is
// a crash. Real CLI, real daemons, an entry that allocates until replaced.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { daemonize } from '../src/index.js'
import { readSupervisorState, statePathOf, type SupervisorState } from '../src/files/state-file.js'
import { fixtures } from './helpers/caller.js'
import { runCli } from './helpers/cli.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { expectStartRefused, startNamed, useNamesRoot } from './helpers/names.js'
import { freePort } from './helpers/net.js'
import { everyInstance, startRollLoad } from './helpers/roll-load.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'
import { until } from './helpers/wait.js'

cleanUpScratchDirs()
cleanUpDaemons()
const current = useNamesRoot()

const app = join(fixtures, 'rolling-http.mjs')
const LIMIT = 160 * 1024 * 1024

interface Event {
  event: string
  instance?: number
  daemonPid?: number
  oldPid?: number
  rss?: number
  limit?: number
  replace?: string
  delayMs?: number
}

function events(logFile: string): Event[] {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"supervisor":true'))
    .map((l) => JSON.parse(l) as Event)
}

/** The pid that logged {"leaking":true} (the one generation that grows). */
function leaker(logFile: string): { pid: number; instance: number | null } | undefined {
  for (const l of readFileSync(logFile, 'utf8').split('\n')) {
    if (l.startsWith('{"leaking":true')) return JSON.parse(l) as { pid: number; instance: number | null }
  }
  return undefined
}

describe('--max-memory', () => {
  it('with --listen --wait-ready and 2 instances: the leaking instance is replaced gracefully (new pid, same index, 0 failed requests), not counted as a crash', async () => {
    const root = current()
    const port = await freePort()
    const flag = join(scratchDir('nd-leak-', 0o777), 'leak')
    writeFileSync(flag, '')
    const { result } = await startNamed(
      [app, '--name', 'leaky', '--respawn', '--instances', '2', '--listen', `tcp:127.0.0.1:${port}`, '--wait-ready', '10s', '--max-memory', '160M', '--env', `LEAK_FLAG=${flag}`, '--env', 'LEAK_AFTER_MS=1500'],
      root.env,
    )
    const pidFile = result.pidFile as string
    const logFile = result.logFile as string
    const state = () => readSupervisorState(statePathOf(pidFile), 0) as SupervisorState
    await everyInstance(port, 2)
    const before = state().instances?.map((i) => track(i.pid as number)) ?? []
    expect(state().instancesSummary?.memoryLimitBytes).toBe(LIMIT)
    const load = startRollLoad(port, { plain: 2, keepAlive: 2 })
    const leak = await until('a generation to leak', () => leaker(logFile))
    const i = leak.instance as number
    expect(before[i]).toBe(leak.pid)
    const replaced = await until('the leaking instance to be replaced and its old one gone', () => {
      const st = state()
      const now = st.instances?.[i]
      return now?.pid !== undefined && now.pid !== leak.pid && now.ready && st.graceful.drainingPid === undefined && !existsSync(`/proc/${leak.pid}`) ? st : undefined
    }, { timeoutMs: 30_000 })
    const newPid = track(replaced.instances?.[i]?.pid as number)
    await until('answers from the new instance', () => (load.stats.byPid.get(newPid) ?? 0) > 10)
    const stats = await load.stop()
    expect({ failed: stats.failed, errors: stats.errors }).toEqual({ failed: { plain: 0, keepAlive: 0 }, errors: [] })
    // The same index, a new pid; the other instance untouched.
    const answered = await everyInstance(port, 2)
    expect(answered.get(i)?.pid).toBe(newPid)
    expect(answered.get(1 - i)?.pid).toBe(before[1 - i])
    expect(replaced.instances?.[i]?.memoryRestarts).toBe(1)
    expect(replaced.instances?.[1 - i]?.memoryRestarts).toBe(0)
    expect(replaced.instances?.[i]?.restarts).toBe(1)
    // Not a crash: no death counted, no backoff.
    expect(replaced.deaths).toBe(0)
    const log = events(logFile)
    const over = log.find((e) => e.event === 'max-memory')
    expect(over).toMatchObject({ instance: i, daemonPid: leak.pid, limit: LIMIT, replace: 'graceful' })
    expect(over?.rss).toBeGreaterThan(LIMIT)
    const ready = log.findIndex((e) => e.event === 'max-memory-ready' && e.daemonPid === newPid && e.oldPid === leak.pid)
    const drained = log.findIndex((e) => e.event === 'drained' && e.daemonPid === leak.pid)
    expect(ready).toBeGreaterThan(log.indexOf(over as Event))
    expect(drained).toBeGreaterThan(ready)
    // status says it.
    const shown = await runCli(['status', 'leaky'], root.env)
    expect(shown.out).toContain('max memory 160M (1 replacement for it)')
  }, 90_000)

  it('a replacement due during a rolling restart waits for the roll to end', async () => {
    const root = current()
    const port = await freePort()
    const dir = scratchDir('nd-leak-', 0o777)
    const flag = join(dir, 'leak')
    const release = join(dir, 'release')
    writeFileSync(release, 'v1\n', { mode: 0o644 })
    const { result } = await startNamed(
      [app, '--name', 'rollmem', '--respawn', '--instances', '2', '--listen', `tcp:127.0.0.1:${port}`, '--wait-ready', '15s', '--max-memory', '160M', '--env', `LEAK_FLAG=${flag}`, '--env', `RELEASE_FILE=${release}`],
      root.env,
    )
    const pidFile = result.pidFile as string
    const logFile = result.logFile as string
    const state = () => readSupervisorState(statePathOf(pidFile), 0) as SupervisorState
    await everyInstance(port, 2)
    for (const i of state().instances ?? []) track(i.pid as number)
    // The new release takes 4 s to be ready; the first new generation (instance 0's) then leaks at once,
    // over the limit for two readings while the roll still waits for instance 1.
    writeFileSync(release, 'slow-4000\n')
    writeFileSync(flag, '')
    const r = await runCli(['restart', '--graceful', 'rollmem'], root.env)
    expect(r.code).toBe(0)
    const rolled = state().instances?.map((i) => track(i.pid as number)) ?? []
    const leak = await until('the leak', () => leaker(logFile))
    expect(leak).toMatchObject({ pid: rolled[0], instance: 0 })
    await until('the max-memory replacement to be ready', () => events(logFile).find((e) => e.event === 'max-memory-ready'), { timeoutMs: 30_000 })
    const log = events(logFile)
    const over = log.findIndex((e) => e.event === 'max-memory')
    expect(log[over]).toMatchObject({ instance: 0, daemonPid: rolled[0] })
    expect(over).toBeGreaterThan(log.findIndex((e) => e.event === 'graceful-done'))
    for (const i of state().instances ?? []) track(i.pid as number)
  }, 90_000)

  it('without --listen: TERM, then a restart without backoff; the limit is saved in the spec and honoured on restart', async () => {
    const root = current()
    const flag = join(scratchDir('nd-leak-', 0o777), 'leak')
    writeFileSync(flag, '')
    const { result } = await startNamed([app, '--name', 'worker', '--respawn', '--respawn-delay', '5s', '--max-memory', '160M', '--env', `LEAK_FLAG=${flag}`], root.env)
    const pidFile = result.pidFile as string
    const logFile = result.logFile as string
    const state = () => readSupervisorState(statePathOf(pidFile), 0) as SupervisorState
    const first = track(result.pid as number)
    const leak = await until('the generation to leak', () => leaker(logFile))
    expect(leak.pid).toBe(first)
    const after = await until('a new generation', () => {
      const st = state()
      return st.daemonPid !== undefined && st.daemonPid !== first ? st : undefined
    }, { timeoutMs: 30_000 })
    track(after.daemonPid as number)
    await untilGone(first)
    const log = events(logFile)
    expect(log.find((e) => e.event === 'max-memory')).toMatchObject({ daemonPid: first, limit: LIMIT, replace: 'term' })
    // Restarted at once (the policy's 5 s backoff does not apply), not counted as a death.
    expect(log.find((e) => e.event === 'restart')).toMatchObject({ delayMs: 0 })
    expect(after.deaths).toBe(0)
    expect(after.instances?.[0]?.memoryRestarts).toBe(1)

    const spec = JSON.parse(readFileSync(join(root.specs, 'worker.json'), 'utf8')) as { options: { maxMemoryBytes?: number } }
    expect(spec.options.maxMemoryBytes).toBe(LIMIT)
    const restarted = await runCli(['restart', 'worker', '--json'], root.env)
    expect(restarted.code).toBe(0)
    const again = JSON.parse(restarted.out) as { pid: number; supervisorPid: number }
    track(again.supervisorPid)
    track(again.pid)
    expect(state().supervisorPid).toBe(again.supervisorPid)
    expect(state().instancesSummary?.memoryLimitBytes).toBe(LIMIT)
  }, 90_000)

  it.each([
    [['--respawn', '--max-memory', '12X'], /--max-memory takes a size in bytes, or with K, M or G \(1024-based\), like 512M or 2G; got '12X'/],
    [['--respawn', '--max-memory', '512K'], /--max-memory must be at least 1M \(1048576 bytes\), got '512K'/],
    [['--respawn', '--max-memory=-1'], /--max-memory takes a size in bytes.*got '-1'/],
    [['--max-memory', '1G'], /maxMemoryBytes needs respawn/],
  ])('start %j is refused at stage options, exit 2, nothing started', async (flags, message) => {
    await expectStartRefused(current(), join(fixtures, 'daemon-idle.js'), flags, message)
  })

  it('unit refuses --max-memory with one line saying why (exit 2)', async () => {
    const r = await runCli(['unit', join(fixtures, 'daemon-idle.js'), '--respawn', '--max-memory', '512M', '--unit-dir', scratchDir('nd-units-'), '--systemd-version', '252'])
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/a unit does not carry --max-memory \(systemd's MemoryMax= kills at the limit, it does not replace gracefully\)/)
  })

  it('the API refuses a bad maxMemoryBytes, and one without respawn, at stage options', async () => {
    const dir = scratchDir('nd-maxmem-')
    const base = { entry: join(fixtures, 'daemon-idle.js'), pidFile: join(dir, 'x.pid') }
    for (const [opts, message] of [
      [{ respawn: true, maxMemoryBytes: 1000 }, /maxMemoryBytes must be a whole number of bytes from 1048576 \(1M\) up, got 1000/],
      [{ respawn: true, maxMemoryBytes: '512M' }, /maxMemoryBytes must be a whole number .* got '512M'/],
      [{ maxMemoryBytes: LIMIT }, /maxMemoryBytes needs respawn/],
    ] as const) {
      await expect(daemonize({ ...base, ...(opts as object) })).rejects.toMatchObject({ stage: 'options', message: expect.stringMatching(message) })
    }
    expect(existsSync(base.pidFile)).toBe(false)
  })
})
