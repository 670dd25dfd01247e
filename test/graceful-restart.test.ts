// restart --graceful (and SIGUSR2 to the supervisor), with real processes.
// Under load, on --listen sockets: 10 graceful restarts in a row with
// clients busy the whole time and not one failed request; a new version that
// crashes or never becomes ready costs no request either. Without sockets:
// the new generation takes over only once ready, the old one
// drains and is not counted as a death; a new version that crashes or never
// becomes ready is killed while the old one keeps serving; status follows
// the live generation; stop during a graceful restart stops both; a second
// request while one is in progress is refused; what the replaced generation
// leaves behind is killed without touching the new one's.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { status } from '../src/control/status.js'
import { fixtures } from './helpers/caller.js'
import { runCli } from './helpers/cli.js'
import { untilGone } from './helpers/daemons.js'
import { startLoad } from './helpers/load.js'
import { freePort } from './helpers/net.js'
import { isAlive, procStat } from './helpers/proc.js'
import { cli, dir, events, pidFiles, pids, setUpServices, startService, type Started } from './helpers/services.js'
import { until } from './helpers/wait.js'

setUpServices()

const app = join(fixtures, 'graceful-app.mjs')

interface Service extends Started {
  pidFile: string
  log: string
  orders: string
}

/** Start graceful-app under a supervisor with readiness; `orders` is the directory it reads its mode from. */
function startApp(extra: string[] = ['--wait-ready', '20s'], entry = app): Service {
  const log = join(dir, 'app.log')
  const pidFile = join(dir, 'app.pid')
  const orders = dir
  const s = startService([entry, '--log-file', log, '--respawn', '--stop-timeout', '5s', ...extra, '--', orders], pidFile)
  return { ...s, pidFile, log, orders }
}

/** graceful-http on a loopback port handed over with --listen. */
function startHttp(port: number, waitReady = '20s'): Service {
  return startApp(['--wait-ready', waitReady, '--listen', `tcp:127.0.0.1:${port}`], join(fixtures, 'graceful-http.mjs'))
}

function order(s: Service, name: string, value: string): void {
  writeFileSync(join(s.orders, name), value)
}

function daemonPid(s: Service): number | undefined {
  return status(s.pidFile).supervisor?.daemonPid
}

/** The generation pid's facts, from /proc: the supervisor's child, in the session, leading its own group. */
function expectGeneration(s: Service, pid: number): void {
  const st = procStat(pid)
  expect(st.ppid).toBe(s.supervisorPid)
  expect(st.session).toBe(s.sid)
  expect(st.pgrp).toBe(pid)
  expect(st.state).not.toBe('Z')
}

async function graceful(s: Service, ...more: string[]) {
  return runCli(['restart', '--graceful', '--pid-file', s.pidFile, ...more])
}

describe('restart --graceful under load, on --listen sockets', () => {
  // Three clients of each kind (helpers/load.ts): a new connection per
  // request, and a keep-alive pool that retries an idempotent GET once when
  // a reused connection is closed under it.
  // Ten start-ups of a Node service on a loaded 2-core machine: more than the default 30 s.
  it('10 graceful restarts in a row while clients keep asking: 0 failed requests, every generation served', { timeout: 150_000 }, async () => {
    const port = await freePort()
    const s = startHttp(port)
    const load = startLoad(port, { plain: 3, keepAlive: 3 })
    try {
      await until('answers from the first generation', () => load.stats.ok > 20 || load.stats.failed > 0)
      const served = [s.pid]
      for (let i = 1; i <= 10; i++) {
        order(s, 'version', String(i))
        const r = await graceful(s, '--json')
        expect(r.code, r.err).toBe(0)
        const res = JSON.parse(r.out) as { daemonPid: number; oldPid: number }
        pids.add(res.daemonPid)
        expect(res.oldPid).toBe(served.at(-1))
        served.push(res.daemonPid)
        expect(daemonPid(s)).toBe(res.daemonPid)
        await until(`answers from version ${i}`, () => (load.stats.byVersion.get(String(i)) ?? 0) > 5 || load.stats.failed > 0)
      }
      const stats = await load.stop()
      expect(stats.failed, stats.errors.join('\n')).toBe(0)
      for (const pid of served) expect(stats.byPid.get(pid) ?? 0, `answers from pid ${pid}`).toBeGreaterThan(0)
      expect(stats.ok).toBeGreaterThan(100)
      expect(events(s.log).filter((e) => e.event === 'exit' || e.event === 'restart')).toEqual([])
    } finally {
      await load.stop()
    }
  })

  it('a new version that crashes at start-up, then one that never becomes ready: 0 failed requests, the old one keeps serving, exit 1 with reason and tail', { timeout: 60_000 }, async () => {
    const port = await freePort()
    const s = startHttp(port, '2s')
    const load = startLoad(port, { plain: 3, keepAlive: 3 })
    try {
      await until('answers from the first generation', () => load.stats.ok > 20 || load.stats.failed > 0)
      order(s, 'version', 'broken')
      order(s, 'mode', 'crash')
      const crashed = await graceful(s)
      expect(crashed.code).toBe(1)
      expect(crashed.err).toMatch(/exited with code 3 before it called ready\(\)/)
      expect(crashed.err).toContain(`the old one (pid ${s.pid}) keeps serving`)
      expect(crashed.err).toContain('crashing at start-up on purpose')
      order(s, 'mode', 'never')
      const stuck = await graceful(s)
      expect(stuck.code).toBe(1)
      expect(stuck.err).toContain('did not call ready() within 2000 ms and was stopped')
      // The stuck one listened, so it may have answered what it accepted
      // before it was stopped (and drained); once restart has returned, it is
      // gone, and only the first generation answers.
      // (A first round of answers lets a response it sent before it died be counted.)
      const first = load.stats.byPid.get(s.pid) ?? 0
      await until('answers from the old generation', () => (load.stats.byPid.get(s.pid) ?? 0) > first + 10 || load.stats.failed > 0)
      const snapshot = new Map(load.stats.byPid)
      const before = load.stats.byPid.get(s.pid) ?? 0
      await until('more answers from the old generation', () => (load.stats.byPid.get(s.pid) ?? 0) > before + 20 || load.stats.failed > 0)
      const stats = await load.stop()
      expect(stats.failed, stats.errors.join('\n')).toBe(0)
      for (const [pid, n] of stats.byPid) if (pid !== s.pid) expect(n, `answers from pid ${pid} after it was stopped`).toBe(snapshot.get(pid))
      expect(daemonPid(s)).toBe(s.pid)
      expectGeneration(s, s.pid)
    } finally {
      await load.stop()
    }
  })
})

describe('restart --graceful', () => {
  it('hands over to a new generation once it is ready, three times; the old one drains and is no death; status follows the live one', { timeout: 60_000 }, async () => {
    const s = startApp()
    const seen = [s.pid]
    expectGeneration(s, s.pid)
    // start --json says so too
    expect(s.pgid).toBe(s.pid)
    for (let i = 1; i <= 3; i++) {
      const old = seen.at(-1) as number
      const r = await graceful(s, '--json')
      expect(r.code, r.err).toBe(0)
      const res = JSON.parse(r.out) as { pid: number; daemonPid: number; oldPid: number; readyMs: number; tookMs: number; message: string }
      pids.add(res.daemonPid)
      expect(res.pid).toBe(s.supervisorPid)
      expect(res.oldPid).toBe(old)
      expect(seen).not.toContain(res.daemonPid)
      expect(res.tookMs).toBeGreaterThanOrEqual(res.readyMs)
      // status names the new one at once, and it is what /proc says
      expect(daemonPid(s)).toBe(res.daemonPid)
      expectGeneration(s, res.daemonPid)
      seen.push(res.daemonPid)
      await untilGone(old)
    }
    const st = status(s.pidFile)
    expect(st.state).toBe('running')
    expect(st.supervisor).toMatchObject({ generation: 4, restarts: 3, deathsInWindow: 0, ready: true })
    const ev = events(s.log)
    // no death, no respawn: three hand-overs, three drained generations
    expect(ev.filter((e) => e.event === 'exit' || e.event === 'restart')).toEqual([])
    expect(ev.filter((e) => e.event === 'graceful-ready').map((e) => e.daemonPid)).toEqual(seen.slice(1))
    await until('three drained generations in the log', () => events(s.log).filter((e) => e.event === 'drained').length === 3)
    expect(events(s.log).filter((e) => e.event === 'drained').map((e) => e.daemonPid)).toEqual(seen.slice(0, 3))
  })

  it('a new version that crashes at start-up is killed, the old one keeps serving, and restart exits 1 with the reason and the log tail', async () => {
    const s = startApp()
    order(s, 'mode', 'crash')
    const r = await graceful(s)
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/graceful restart failed: the new generation \(pid \d+\) exited with code 3 before it called ready\(\)/)
    expect(r.err).toContain(`the old one (pid ${s.pid}) keeps serving`)
    expect(r.err).toContain('crashing at start-up on purpose')
    expect(daemonPid(s)).toBe(s.pid)
    expectGeneration(s, s.pid)
    const st = status(s.pidFile)
    expect(st.supervisor).toMatchObject({ generation: 1, restarts: 0, deathsInWindow: 0 })
    expect(events(s.log).filter((e) => e.event === 'exit' || e.event === 'restart')).toEqual([])
    // --json: one error object, with the code and the tail
    const j = await graceful(s, '--json')
    expect(j.code).toBe(1)
    const e = JSON.parse(j.out) as { ok: boolean; error: { stage: string; code: string; exitCode: number; logTail: string } }
    expect(e.ok).toBe(false)
    expect(e.error).toMatchObject({ stage: 'graceful', code: 'ERR_DAEMON_EXITED', exitCode: 3 })
    expect(e.error.logTail).toContain('crashing at start-up on purpose')
    // the fixed version takes over as usual
    order(s, 'mode', 'ready')
    const ok = await graceful(s)
    expect(ok.code, ok.err).toBe(0)
    expect(daemonPid(s)).not.toBe(s.pid)
  })

  it('a new version that never calls ready() is killed at the readiness timeout; the old one keeps serving', async () => {
    const s = startApp(['--wait-ready', '1s'])
    order(s, 'mode', 'never')
    const r = await graceful(s)
    expect(r.code).toBe(1)
    const m = /the new generation \(pid (\d+)\) did not call ready\(\) within 1000 ms and was stopped/.exec(r.err)
    expect(m, r.err).not.toBeNull()
    await untilGone(Number(m![1]))
    expect(daemonPid(s)).toBe(s.pid)
    expectGeneration(s, s.pid)
    expect(status(s.pidFile).supervisor).toMatchObject({ generation: 1, deathsInWindow: 0 })
  })

  it('stop during a graceful restart stops both generations and starts nothing new', async () => {
    const s = startApp()
    order(s, 'ready-ms', '60000')
    const pending = graceful(s)
    const next = await until('the new generation to be starting', () => status(s.pidFile).supervisor?.nextPid)
    pids.add(next)
    expectGeneration(s, next)
    const stopped = cli(['stop', '--pid-file', s.pidFile])
    expect(stopped.status, stopped.output).toBe(0)
    const r = await pending
    expect(r.code).toBe(1)
    expect(r.err).toContain('the service was stopped meanwhile; nothing new started')
    for (const pid of [s.supervisorPid, s.pid, next]) expect(isAlive(pid)).toBe(false)
    expect(status(s.pidFile).code).toBe(3)
    expect(events(s.log).filter((e) => e.event === 'graceful-start')).toHaveLength(1)
  })

  it('a second graceful restart while one is in progress is refused; the first one completes', async () => {
    const s = startApp()
    order(s, 'ready-ms', '5000')
    const first = graceful(s)
    await until('the new generation to be starting', () => status(s.pidFile).supervisor?.nextPid)
    const second = await graceful(s)
    expect(second.code).toBe(1)
    expect(second.err).toContain('graceful restart refused: a graceful restart is already in progress')
    // the supervisor refuses it too (the signal sent by hand, as an init script would)
    process.kill(s.supervisorPid, 'SIGUSR2')
    await until('the supervisor to log its refusal', () => events(s.log).some((e) => e.event === 'graceful-refused'))
    const r = await first
    expect(r.code, r.err).toBe(0)
    expect(events(s.log).filter((e) => e.event === 'graceful-start')).toHaveLength(1)
  })

  it('restart returns at the hand-over; status shows the replaced generation draining; the next restart waits for that drain', async () => {
    const s = startApp()
    order(s, 'drain-ms', '3000')
    const first = await graceful(s, '--json')
    expect(first.code, first.err).toBe(0)
    const a = JSON.parse(first.out) as { daemonPid: number }
    pids.add(a.daemonPid)
    // returned while the old one still drains
    const st = status(s.pidFile)
    expect(st.supervisor).toMatchObject({ daemonPid: a.daemonPid, drainingPid: s.pid })
    expect(st.message).toContain(`replaced generation pid ${s.pid} draining`)
    expect(isAlive(s.pid)).toBe(true)
    const second = await graceful(s, '--json')
    expect(second.code, second.err).toBe(0)
    const b = JSON.parse(second.out) as { daemonPid: number; oldPid: number }
    pids.add(b.daemonPid)
    expect(b.oldPid).toBe(a.daemonPid)
    // it asked only once the first drain was over: the first old one's exit is logged before the second start
    const ev = events(s.log)
    const drained = ev.findIndex((e) => e.event === 'drained' && e.daemonPid === s.pid)
    const starts = ev.map((e, i) => (e.event === 'graceful-start' ? i : -1)).filter((i) => i >= 0)
    expect(drained).toBeGreaterThan(-1)
    expect(starts).toHaveLength(2)
    expect(drained).toBeLessThan(starts[1])
    expect(ev.some((e) => e.event === 'graceful-refused')).toBe(false)
  })

  it('SIGUSR2 to the supervisor is a graceful restart (for init scripts)', async () => {
    const s = startApp()
    process.kill(s.supervisorPid, 'SIGUSR2')
    const next = await until('a new live generation', () => {
      const p = daemonPid(s)
      return p !== undefined && p !== s.pid ? p : undefined
    })
    pids.add(next)
    expectGeneration(s, next)
    await untilGone(s.pid)
    expect(events(s.log).find((e) => e.event === 'graceful-start')?.requester).toBe(process.pid)
  })

  it("kills what the replaced generation left behind (its child, its setsid'd orphan), never what the new one started", async () => {
    const s = startApp()
    order(s, 'child', '')
    order(s, 'orphan', '')
    // Generation 1 started before the orders existed: restart once so that the one to be replaced has both.
    expect((await graceful(s)).code).toBe(0)
    const old = daemonPid(s) as number
    pids.add(old)
    const oldChild = await until('the old generation\'s child', () => readPid(s, `child.${old}`))
    const oldOrphan = await until('the old generation\'s orphan', () => readPid(s, `orphan.${old}`))
    pids.add(oldChild)
    pids.add(oldOrphan)
    expect(procStat(oldChild).pgrp).toBe(old)
    expect(procStat(oldOrphan).session).toBe(oldOrphan) // left the session
    const r = await graceful(s)
    expect(r.code, r.err).toBe(0)
    const now = daemonPid(s) as number
    pids.add(now)
    const newChild = await until('the new generation\'s child', () => readPid(s, `child.${now}`))
    const newOrphan = await until('the new generation\'s orphan', () => readPid(s, `orphan.${now}`))
    pids.add(newChild)
    pids.add(newOrphan)
    await untilGone(old)
    await untilGone(oldChild)
    await untilGone(oldOrphan)
    await until('the drain to be logged', () => events(s.log).filter((e) => e.event === 'drained').length === 2)
    for (const pid of [now, newChild, newOrphan]) expect(isAlive(pid), `pid ${pid}`).toBe(true)
    expectGeneration(s, now)
  })

  it('without a subreaper, finds the replaced generation\'s child by its process group (reparented to init), and spares the new one\'s', async () => {
    const log = join(dir, 'app.log')
    const pidFile = join(dir, 'app.pid')
    const started = startService([app, '--log-file', log, '--respawn', '--wait-ready', '20s', '--', dir], pidFile, {
      ...process.env,
      // the /proc way, which this test is about (a cgroup would find it anyway)
      NODE_DAEMONIZE_TEST_FAULT: 'no-subreaper,no-cgroup',
    })
    const s: Service = { ...started, pidFile, log, orders: dir }
    expect(status(pidFile).supervisor?.subreaper).toBe(false)
    order(s, 'child', '')
    expect((await graceful(s)).code).toBe(0)
    const old = daemonPid(s) as number
    pids.add(old)
    const oldChild = await until("the old generation's child", () => readPid(s, `child.${old}`))
    pids.add(oldChild)
    const r = await graceful(s)
    expect(r.code, r.err).toBe(0)
    const now = daemonPid(s) as number
    pids.add(now)
    const newChild = await until("the new generation's child", () => readPid(s, `child.${now}`))
    pids.add(newChild)
    await untilGone(old)
    await untilGone(oldChild)
    await until('the drain to be logged', () => events(log).filter((e) => e.event === 'drained').length === 2)
    for (const pid of [now, newChild]) expect(isAlive(pid), `pid ${pid}`).toBe(true)
    expect(procStat(newChild).pgrp).toBe(now)
  })

  it('the old generation crashing while the new one starts: the new one takes over when ready, nothing else starts', async () => {
    const s = startApp()
    order(s, 'ready-ms', '3000')
    const pending = graceful(s)
    const next = await until('the new generation to be starting', () => status(s.pidFile).supervisor?.nextPid)
    pids.add(next)
    process.kill(s.pid, 'SIGKILL')
    const r = await pending
    expect(r.code, r.err).toBe(0)
    expect(daemonPid(s)).toBe(next)
    expectGeneration(s, next)
    const ev = events(s.log)
    // the crash is a death (counted), but the starting generation is its respawn
    expect(ev.filter((e) => e.event === 'exit').map((e) => e.signal)).toEqual(['SIGKILL'])
    expect(ev.some((e) => e.event === 'graceful-takes-over')).toBe(true)
    expect(ev.filter((e) => e.event === 'restart' || e.event === 'start')).toEqual([])
    expect(status(s.pidFile).supervisor?.deathsInWindow).toBe(1)
  })

  it('refuses clearly a service without --wait-ready, and one without --respawn', async () => {
    const s = startApp([])
    const r = await graceful(s)
    expect(r.code).toBe(1)
    expect(r.err).toContain('started without --wait-ready')
    expect(daemonPid(s)).toBe(s.pid)
    // the supervisor refuses the bare signal too
    process.kill(s.supervisorPid, 'SIGUSR2')
    await until('the supervisor to log its refusal', () => events(s.log).some((e) => e.event === 'graceful-refused'))
    expect(daemonPid(s)).toBe(s.pid)

    const plainPid = join(dir, 'plain.pid')
    const started = cli(['start', app, '--pid-file', plainPid, '--json', '--', dir])
    expect(started.status, started.output).toBe(0)
    const d = JSON.parse(started.stdout) as { pid: number }
    pids.add(d.pid)
    const p = await runCli(['restart', '--graceful', '--pid-file', plainPid])
    expect(p.code).toBe(1)
    expect(p.err).toContain('was not started with --respawn')
    expect(cli(['stop', '--pid-file', plainPid]).status).toBe(0)
  })

  it('finds the service by its NAME too', async () => {
    const env = { ...process.env, NODE_DAEMONIZE_TEST_ROOT: dir }
    const started = cli(['start', app, '--name', 'gr', '--respawn', '--wait-ready', '20s', '--json', '--', dir], env)
    expect(started.status, started.output).toBe(0)
    const d = JSON.parse(started.stdout.trim().split('\n').at(-1) as string) as { pid: number; supervisorPid: number; pidFile: string }
    pids.add(d.pid)
    pids.add(d.supervisorPid)
    pidFiles.push(d.pidFile)
    const r = await runCli(['restart', '--graceful', 'gr', '--json'], env)
    expect(r.code, r.err).toBe(0)
    const res = JSON.parse(r.out) as { pid: number; daemonPid: number; oldPid: number }
    pids.add(res.daemonPid)
    expect(res).toMatchObject({ pid: d.supervisorPid, oldPid: d.pid })
    expect(status(d.pidFile).supervisor?.daemonPid).toBe(res.daemonPid)
  })

  // Issue 14: for a --respawn --listen service, restart NAME is the graceful one.
  it('restart NAME of a --respawn --listen --wait-ready service is graceful; with a changed option it is a full restart', async () => {
    const env = { ...process.env, NODE_DAEMONIZE_TEST_ROOT: dir }
    const port = await freePort()
    const http = join(fixtures, 'graceful-http.mjs')
    const started = cli(['start', http, '--name', 'grl', '--respawn', '--wait-ready', '20s', '--listen', `tcp:127.0.0.1:${port}`, '--json', '--', dir], env)
    expect(started.status, started.output).toBe(0)
    const d = JSON.parse(started.stdout.trim().split('\n').at(-1) as string) as { pid: number; supervisorPid: number; pidFile: string }
    pids.add(d.pid)
    pids.add(d.supervisorPid)
    pidFiles.push(d.pidFile)

    const r = await runCli(['restart', 'grl', '--json'], env)
    expect(r.code, r.err).toBe(0)
    const res = JSON.parse(r.out) as { pid: number; daemonPid: number; oldPid: number }
    pids.add(res.daemonPid)
    // The same supervisor, a new generation: a hand-over, not a stop + start.
    expect(res).toMatchObject({ pid: d.supervisorPid, oldPid: d.pid })
    expect(isAlive(d.supervisorPid)).toBe(true)
    expect(status(d.pidFile).supervisor?.daemonPid).toBe(res.daemonPid)

    const full = await runCli(['restart', 'grl', '--json', '--env', 'CHANGED=1'], env)
    expect(full.code, full.err).toBe(0)
    const f = JSON.parse(full.out.trim().split('\n').at(-1) as string) as { pid: number; supervisorPid: number }
    pids.add(f.pid)
    pids.add(f.supervisorPid)
    expect(f.supervisorPid).not.toBe(d.supervisorPid)
    await untilGone(d.supervisorPid)
  })

  it('takes no entry or start options', async () => {
    const r = await runCli(['restart', '--graceful', '--pid-file', join(dir, 'x.pid'), app])
    expect(r.code).toBe(2)
    expect(r.err).toContain('--graceful takes no entry, arguments or start options')
  })
})

function readPid(s: Service, name: string): number | undefined {
  const p = join(s.orders, name)
  if (!existsSync(p)) return undefined
  const n = Number(readFileSync(p, 'utf8'))
  return n > 0 ? n : undefined
}


