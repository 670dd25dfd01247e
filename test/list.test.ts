// `node-daemonize list`: every named daemon with its state, read from the
// specs, pid files, locks and /proc. Running, stale (killed: its pid file
// stays, its lock is free), failed (a supervisor that gave up), starting
// and stopped entries, as a table and as JSON.
import { closeSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { listDaemons, type ListEntry } from '../src/names/list.js'
import { nameDirs } from '../src/names/paths.js'
import { native } from '../src/native.js'
import { fixtures } from './helpers/caller.js'
import { runCli as cli } from './helpers/cli.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { startNamed, useNamesRoot } from './helpers/names.js'
import { procStatus } from './helpers/proc.js'
import { until } from './helpers/wait.js'
import { cleanUpScratchDirs } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()
const names = useNamesRoot()

const entry = join(fixtures, 'lifecycle-hup.js')
const app = join(fixtures, 'supervised-app.mjs')

/** What `list --json` prints: the API's entries, as JSON. */
type Entry = ListEntry

async function list(env: NodeJS.ProcessEnv): Promise<Entry[]> {
  const r = await cli(['list', '--json'], env)
  expect(r.code, r.err).toBe(0)
  return JSON.parse(r.out) as Entry[]
}

/** SIGKILL through a pidfd (a recycled pid is never hit). */
function kill(pid: number): void {
  const fd = native().pidfdOpen(pid)
  try {
    native().pidfdSendSignal(fd, 9)
  } finally {
    closeSync(fd)
  }
}

describe('list', () => {
  it('says so when there is none', async () => {
    const r = await cli(['list'], names().env)
    expect(r).toMatchObject({ code: 0, out: expect.stringMatching(/^no named daemons/) })
    expect(await list(names().env)).toEqual([])
  })

  it('shows running, stale, failed and stopped daemons, as JSON and as a table', async () => {
    const r = names()
    const running = (await startNamed([entry, '--name', 'a-running'], r.env)).result
    const stale = (await startNamed([entry, '--name', 'b-stale'], r.env)).result
    await startNamed([entry, '--name', 'd-stopped'], r.env)
    expect((await cli(['stop', 'd-stopped'], r.env)).code).toBe(0)

    // A supervised service whose daemon dies for good: one death is the limit.
    const orders = join(r.top, 'orders')
    mkdirSync(orders, { mode: 0o700 })
    const sup = (await startNamed([app, '--name', 'c-failed', '--respawn', '--respawn-limit', '1/60s', '--', orders], r.env)).result
    const supervisorPid = sup.supervisorPid as number
    const firstGen = sup.pid as number

    // The stale one: killed outright, its pid file left behind with a free lock.
    kill(stale.pid as number)
    await untilGone(stale.pid as number)
    writeFileSync(join(orders, 'exit-now'), '3')
    kill(firstGen)
    await untilGone(supervisorPid)

    const entries = await list(r.env)
    expect(entries.map((e) => [e.name, e.state])).toEqual([
      ['a-running', 'running'],
      ['b-stale', 'stale'],
      ['c-failed', 'failed'],
      ['d-stopped', 'stopped'],
    ])
    const [a, b, c, d] = entries
    const rssKb = Number(/^(\d+) kB$/.exec(procStatus(running.pid as number).VmRSS)?.[1])
    expect(a).toMatchObject({ pid: running.pid, logFile: join(r.logs, 'a-running.log'), pidFile: join(r.run, 'a-running.pid') })
    expect(a.uptimeMs).toBeGreaterThanOrEqual(0)
    // Its resident memory as /proc says it, within what a moment's growth allows.
    expect(a.rssBytes).toBeGreaterThan(rssKb * 1024 * 0.5)
    expect(a.rssBytes).toBeLessThan(rssKb * 1024 * 2)
    expect(a.cpuPercent).toBeGreaterThanOrEqual(0)
    expect(a.supervisorPid).toBeUndefined()
    // A stale pid names a process that is gone: no /proc figures for it.
    expect(b).toMatchObject({ pid: stale.pid, message: expect.stringMatching(/stale/) })
    expect(b.rssBytes).toBeUndefined()
    expect(c).toMatchObject({ supervisorPid, message: expect.stringMatching(/^failed: gave up/) })
    expect(d.pid).toBeUndefined()

    const table = await cli(['list'], r.env)
    expect(table.code).toBe(0)
    const lines = table.out.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^NAME\s+STATE\s+PID\s+SUPERVISOR\s+UPTIME\s+RESTARTS\s+RSS\s+CPU%\s+LOG$/)
    expect(lines).toHaveLength(5)
    expect(lines[1]).toMatch(new RegExp(`^a-running\\s+running\\s+${running.pid}\\s+-\\s+\\S+( \\S+)?\\s+-\\s+[\\d.]+[KMG]\\s+[\\d.]+\\s+${join(r.logs, 'a-running.log')}$`))
    expect(lines[2]).toMatch(new RegExp(`^b-stale\\s+stale\\s+${stale.pid}\\s`))
    expect(lines[3]).toMatch(new RegExp(`^c-failed\\s+failed\\s+-\\s+${supervisorPid}\\s`))
    expect(lines[4]).toMatch(/^d-stopped\s+stopped\s+-\s+-\s/)
    // Columns line up: each row's STATE starts where the header's does.
    const at = lines[0].indexOf('STATE')
    for (const l of lines.slice(1)) expect(l.slice(at)).toMatch(/^(running|stale|failed|stopped) /)
  })

  it('shows a supervised daemon with its supervisor and restarts', async () => {
    const r = names()
    const orders = join(r.top, 'orders')
    mkdirSync(orders, { mode: 0o700 })
    const sup = (await startNamed([app, '--name', 'svc', '--respawn', '--respawn-delay', '10ms', '--', orders], r.env)).result
    kill(sup.pid as number)
    await untilGone(sup.pid as number)
    // What list reads, read the same way in-process, to poll it.
    await until('the second generation to run', () => {
      const [x] = listDaemons(nameDirs(r.env))
      return x.state === 'running' && x.pid !== undefined && x.pid !== sup.pid
    })
    const [e] = await list(r.env)
    track(e.pid as number)
    expect(e).toMatchObject({ supervisorPid: sup.supervisorPid, restarts: 1 })
    expect(e.rssBytes).toBeGreaterThan(0)
    expect((await cli(['stop', 'svc'], r.env)).code).toBe(0)
    await untilGone(sup.supervisorPid as number)
    await untilGone(e.pid as number)
  })
})
