// `node-daemonize run` as PID 1 of a new PID namespace (unshare --pid
// --fork --mount-proc; we are root): the C supervisor replaces the CLI,
// reaps, passes signals on and exits with the app's status (issue 22).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fixtures } from './helpers/caller.js'
import { cleanUpDaemons } from './helpers/daemons.js'
import { everyInstance } from './helpers/instances.js'
import { procStat, procStatus } from './helpers/proc.js'
import { cleanUpRuns, runApp, startRun, SUPERVISOR_COMM, tokens } from './helpers/run.js'
import { freePort } from './helpers/net.js'
import { until } from './helpers/wait.js'

cleanUpDaemons()
cleanUpRuns()

describe('run as PID 1 of a PID namespace', () => {
  it('is the C supervisor, not node; SIGTERM drains the app and exits 0', async () => {
    const r = await startRun([runApp], { ns: true })
    // PID 1 inside: NSpid's last field; its comm is the supervisor's, its exe the helper, not node
    expect(procStatus(r.pid).NSpid.split(/\s+/).at(-1)).toBe('1')
    expect(readFileSync(`/proc/${r.pid}/comm`, 'utf8')).toBe(`${SUPERVISOR_COMM}\n`)
    expect(readFileSync(`/proc/${r.pid}/cmdline`, 'utf8')).toBe('node-daemonize-run\0')
    // ≤ 1 MB resident (issue 22; measured: docs/containers.md; node itself is ~40 MB)
    expect(Number.parseInt(procStatus(r.pid).VmRSS, 10)).toBeLessThanOrEqual(1024)
    // the app is its child, in a process group of its own, not a session leader
    expect(r.out()).toMatch(/^token [0-9a-f]+ pid \d+ ppid 1$/m)
    process.kill(r.pid, 'SIGTERM')
    expect(await r.exit).toBe(0)
    expect(r.out()).toContain('got SIGTERM\ndrained\n')
    expect(r.events().map((e) => e.event)).toEqual(['launched', 'stop', 'stopped'])
  })

  it('exits with the app\'s status: 3', async () => {
    const r = await startRun([runApp, '--', 'exit3'], { ns: true })
    expect(await r.exit).toBe(3)
  })

  it('exits 143 when the app dies of the TERM, 137 when it needs the KILL after --stop-timeout', async () => {
    const dies = await startRun([runApp, '--', 'term-dies'], { ns: true })
    process.kill(dies.pid, 'SIGTERM')
    expect(await dies.exit).toBe(143)
    const stubborn = await startRun(['--stop-timeout', '200ms', runApp, '--', 'ignore-term'], { ns: true })
    process.kill(stubborn.pid, 'SIGTERM')
    expect(await stubborn.exit).toBe(137)
    expect(stubborn.out()).toContain('got SIGTERM, ignored')
    expect(stubborn.events().map((e) => e.event)).toContain('stop-timeout')
  })

  it('exits 137 when the app is killed; with --respawn a new app starts (a new token)', async () => {
    const once = await startRun([runApp], { ns: true })
    const app = Number(/pid (\d+) ppid/.exec(once.out())?.[1])
    expect(app).toBeGreaterThan(1)
    // the app's pid in the namespace; from here, the supervisor's only child
    const [child] = readFileSync(`/proc/${once.pid}/task/${once.pid}/children`, 'utf8').trim().split(' ').map(Number)
    process.kill(child, 'SIGKILL')
    expect(await once.exit).toBe(137)

    const again = await startRun(['--respawn', runApp], { ns: true })
    const first = tokens(again.out())
    const [c1] = readFileSync(`/proc/${again.pid}/task/${again.pid}/children`, 'utf8').trim().split(' ').map(Number)
    process.kill(c1, 'SIGKILL')
    await until('a second app', () => tokens(again.out()).length === 2, { seen: () => again.out() })
    const both = tokens(again.out())
    expect(both[0]).toBe(first[0])
    expect(both[1]).not.toBe(both[0])
    process.kill(again.pid, 'SIGTERM')
    expect(await again.exit).toBe(0)
  })

  it('passes HUP, QUIT and WINCH on; holds USR1 back unless --forward-signal USR1', async () => {
    const r = await startRun([runApp], { ns: true })
    for (const sig of ['SIGHUP', 'SIGQUIT', 'SIGWINCH'] as const) {
      process.kill(r.pid, sig)
      await until(`the app to get ${sig}`, () => r.out().includes(`got ${sig}\n`), { seen: () => r.out() })
    }
    process.kill(r.pid, 'SIGUSR1')
    await until('the supervisor to hold SIGUSR1 back', () => r.events().some((e) => e.event === 'signal-held'), { seen: () => r.err() })
    // a later signal arrives: the USR1 before it was not passed on
    process.kill(r.pid, 'SIGHUP')
    await until('the app to get a second SIGHUP', () => r.out().split('got SIGHUP').length === 3, { seen: () => r.out() })
    expect(r.out()).not.toContain('got SIGUSR1')
    process.kill(r.pid, 'SIGTERM')
    expect(await r.exit).toBe(0)

    const usr1 = await startRun(['--forward-signal', 'USR1', runApp], { ns: true })
    process.kill(usr1.pid, 'SIGUSR1')
    await until('the app to get SIGUSR1', () => usr1.out().includes('got SIGUSR1\n'), { seen: () => usr1.out() })
    process.kill(usr1.pid, 'SIGTERM')
    expect(await usr1.exit).toBe(0)
  })

  it('passes USR2 on, but with --respawn --listen --wait-ready it is a graceful restart', async () => {
    const plain = await startRun([runApp], { ns: true })
    process.kill(plain.pid, 'SIGUSR2')
    await until('the app to get SIGUSR2', () => plain.out().includes('got SIGUSR2\n'), { seen: () => plain.out() })
    process.kill(plain.pid, 'SIGTERM')
    expect(await plain.exit).toBe(0)

    const port = await freePort()
    const r = await startRun(['--respawn', '--listen', `tcp:127.0.0.1:${port}`, '--wait-ready', '10s', runApp, '--', 'ready'], { ns: true })
    await until('the app to be ready', () => r.out().includes('called ready'))
    process.kill(r.pid, 'SIGUSR2')
    await until('the old app drained', () => r.events().some((e) => e.event === 'drained'), { seen: () => r.err() })
    // stdout is another pipe: its lines may come after the events'
    await until('the new app and the old one\'s drain on stdout', () => tokens(r.out()).length === 2 && r.out().includes('drained\n'), { seen: () => r.out() })
    const [first, second] = tokens(r.out())
    expect(second).toBeDefined()
    expect(second).not.toBe(first)
    expect(r.out()).not.toContain('got SIGUSR2')
    // the old app's TERM and drain, in that order; the new app's "called ready" may come between
    // the two lines (it is written after ready(), which is what sends the old one its TERM)
    const lines = r.out().split('\n')
    expect(lines.indexOf('drained', lines.indexOf('got SIGTERM'))).toBeGreaterThan(lines.indexOf('got SIGTERM'))
    expect(lines.indexOf('got SIGTERM')).toBeGreaterThanOrEqual(0)
    process.kill(r.pid, 'SIGTERM')
    expect(await r.exit).toBe(0)
  })

  it('runs --instances 2 with --max-memory on one --listen socket: both instances serve; SIGTERM stops both, exit 0', async () => {
    const port = await freePort()
    const app = join(fixtures, 'instances-http.mjs')
    const r = await startRun(['--respawn', '--instances', '2', '--max-memory', '512M', '--listen', `tcp:127.0.0.1:${port}`, '--wait-ready', '10s', app], {
      ns: true,
      waitApp: false,
    })
    const seen = await everyInstance(port, 2, 'instances 0 and 1 of run to answer')
    expect([...seen.keys()].sort()).toEqual([0, 1])
    const kids = () => readFileSync(`/proc/${r.pid}/task/${r.pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number)
    expect(kids()).toHaveLength(2)
    process.kill(r.pid, 'SIGTERM')
    expect(await r.exit).toBe(0)
  })

  it('reaps an orphan reparented to it within 1 s', async () => {
    const r = await startRun([runApp, '--', 'reparent'], { ns: true })
    // sh exits at once; its `sleep 0.3` is reparented to PID 1 (the supervisor)
    const orphan = await until('the orphan to be reparented to the supervisor', () => {
      const kids = readFileSync(`/proc/${r.pid}/task/${r.pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number)
      return kids.find((k) => {
        try {
          return procStat(k).comm === 'sleep'
        } catch {
          return false
        }
      })
    })
    // it ends after 0.3 s; reaped within 1 s of that (issue 22: a SIGCHLD away), never a zombie left
    await until('the orphan to end', () => {
      try {
        return procStat(orphan).state === 'Z'
      } catch {
        return true
      }
    }, { timeoutMs: 5000, stepMs: 2 })
    await until('the orphan to be reaped', () => {
      try {
        procStat(orphan)
        return false
      } catch {
        return true
      }
    }, { timeoutMs: 1000, stepMs: 2 })
    process.kill(r.pid, 'SIGTERM')
    expect(await r.exit).toBe(0)
  })
})
