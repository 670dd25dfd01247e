// What the CLI's exit status says, for the cases where it used to say the
// wrong thing (hardening round 2, defects 9 and 10):
//   - restart --graceful whose wait ends before the supervisor's verdict: 3,
//     "the restart goes on and may still complete; status shows it", not 1
//     ("failed or refused, the old generation serves");
//   - an option the options check refuses (a unix: path too long or given
//     twice, more sockets than the helper passes, a duration under 1 ms):
//     a usage error, 2, with the "Try --help" line; the API refuses the same
//     at stage `options`.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { daemonize } from '../src/launch/daemonize.js'
import { DaemonizeError } from '../src/errors.js'
import { gracefulRestart } from '../src/control/graceful.js'
import { status } from '../src/control/status.js'
import { stop } from '../src/control/stop.js'
import { fixtures } from './helpers/caller.js'
import { runCli } from './helpers/cli.js'
import { untilGone } from './helpers/daemons.js'
import { isAlive } from './helpers/proc.js'
import { dir, pidFiles, pids, setUpServices, startService, type Started } from './helpers/services.js'
import { until } from './helpers/wait.js'

setUpServices()

const app = join(fixtures, 'graceful-app.mjs')
const idle = join(fixtures, 'daemon-idle.js')

interface Service extends Started {
  pidFile: string
}

/** graceful-app under a supervisor with readiness; it reads its orders (mode, ready-ms) from `dir` at start. */
function startApp(waitReady = '20s'): Service {
  const pidFile = join(dir, 'app.pid')
  const s = startService([app, '--log-file', join(dir, 'app.log'), '--respawn', '--stop-timeout', '5s', '--wait-ready', waitReady, '--', dir], pidFile)
  return { ...s, pidFile }
}

function order(name: string, value: string): void {
  writeFileSync(join(dir, name), value)
}

/** stderr is one line (a failure) or two (a usage error: the second says where help is). */
function expectUsageError(r: { code: number | null; out: string; err: string }, command: string, message: string | RegExp): void {
  expect(r.code, r.err).toBe(2)
  const lines = r.err.split('\n')
  expect(lines.pop()).toBe('')
  expect(lines).toHaveLength(2)
  expect(lines[0].startsWith(`node-daemonize ${command}: `)).toBe(true)
  if (typeof message === 'string') expect(lines[0]).toContain(message)
  else expect(lines[0]).toMatch(message)
  expect(lines[1]).toBe(`Try 'node-daemonize ${command} --help' for more information.`)
}

describe('restart --graceful: the wait ends before the verdict (hardening round 2, defect 9)', () => {
  it('a new generation ready only after --timeout: exit 3, "may still complete", and status then shows it serving', { timeout: 60_000 }, async () => {
    const s = startApp()
    order('ready-ms', '3000')
    const r = await runCli(['restart', '--graceful', '--pid-file', s.pidFile, '--timeout', '500ms'])
    expect(r.code, r.err).toBe(3)
    expect(r.out).toBe('')
    const lines = r.err.trimEnd().split('\n')
    expect(lines).toHaveLength(1)
    const m =
      /^node-daemonize restart: no verdict from the supervisor \(pid (\d+)\) within 500 ms: the graceful restart goes on and may still complete \(new generation pid (\d+) starting; the old one, pid (\d+), serves until it is ready\); see its outcome with node-daemonize status --pid-file (.+)$/.exec(
        lines[0],
      )
    expect(m, r.err).not.toBeNull()
    expect(Number(m![1])).toBe(s.supervisorPid)
    const next = Number(m![2])
    pids.add(next)
    expect(Number(m![3])).toBe(s.pid)
    expect(m![4]).toBe(s.pidFile)
    // The old one serves meanwhile; the hand-over then completes.
    expect(isAlive(s.pid)).toBe(true)
    await until('the new generation to serve', () => status(s.pidFile).supervisor?.daemonPid === next)
    const st = await runCli(['status', '--pid-file', s.pidFile])
    expect(st.code, st.err).toBe(0)
    expect(st.out).toContain(`daemon pid ${next}`)
    expect(st.out).toContain(`last graceful restart: the new generation pid ${next} took over from pid ${s.pid}`)
    await untilGone(s.pid)
  })

  it('--json: the one error shape, code ERR_DAEMON_RESTART_PENDING, exit 3; the API rejects with the same code', { timeout: 60_000 }, async () => {
    const s = startApp()
    order('ready-ms', '3000')
    const r = await runCli(['restart', '--graceful', '--pid-file', s.pidFile, '--timeout', '500ms', '--json'])
    expect(r.code, r.err).toBe(3)
    const res = JSON.parse(r.out) as { ok: boolean; error: Record<string, unknown> }
    expect(res.ok).toBe(false)
    expect(res.error).toMatchObject({ stage: 'graceful', code: 'ERR_DAEMON_RESTART_PENDING', pid: s.supervisorPid })
    const first = await until('the first hand-over', () => {
      const p = status(s.pidFile).supervisor?.daemonPid
      return p !== s.pid ? p : undefined
    })
    pids.add(first)
    const e = await gracefulRestart(s.pidFile, { timeoutMs: 500 }).then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(e).toBeInstanceOf(DaemonizeError)
    expect(e).toMatchObject({ stage: 'graceful', code: 'ERR_DAEMON_RESTART_PENDING' })
    const second = await until('the second hand-over', () => {
      const p = status(s.pidFile).supervisor?.daemonPid
      return p !== first ? p : undefined
    })
    pids.add(second)
  })

  it('a wait that ends before a new generation fails: exit 3, then status says the attempt failed and the old one serves', { timeout: 60_000 }, async () => {
    const s = startApp('2s')
    order('mode', 'never')
    const r = await runCli(['restart', '--graceful', '--pid-file', s.pidFile, '--timeout', '500ms'])
    expect(r.code, r.err).toBe(3)
    const next = Number(/new generation pid (\d+) starting/.exec(r.err)?.[1])
    expect(next).toBeGreaterThan(0)
    pids.add(next)
    await untilGone(next)
    const st = await until('status to say how the attempt ended', async () => {
      const out = (await runCli(['status', '--pid-file', s.pidFile])).out
      return out.includes('last graceful restart') ? out : undefined
    })
    expect(st).toContain(`daemon pid ${s.pid}`)
    expect(st).toContain(`last graceful restart failed: the new generation pid ${next} did not call ready() within 2000 ms`)
  })

  it('a new generation that fails within the wait: still exit 1, "the old one keeps serving"', async () => {
    const s = startApp()
    order('mode', 'crash')
    const r = await runCli(['restart', '--graceful', '--pid-file', s.pidFile, '--timeout', '30s'])
    expect(r.code, r.err).toBe(1)
    expect(r.err).toContain(`the old one (pid ${s.pid}) keeps serving`)
    expect(r.err).not.toContain('may still complete')
    expect(status(s.pidFile).supervisor?.daemonPid).toBe(s.pid)
  })
})

describe('option errors are usage errors (hardening round 2, defect 10)', () => {
  const long = () => `unix:${join(dir, 'x'.repeat(120))}`

  it('a unix: path over 107 bytes: exit 2 with the Try --help line, nothing started (start and restart)', async () => {
    const pidFile = join(dir, 'app.pid')
    pidFiles.push(pidFile)
    const r = await runCli(['start', idle, '--pid-file', pidFile, '--listen', long()])
    expectUsageError(r, 'start', 'is longer than 107 bytes')
    expect(status(pidFile).code).toBe(3)
    const j = await runCli(['start', idle, '--pid-file', pidFile, '--listen', long(), '--json'])
    expect(j.code).toBe(2)
    expect(JSON.parse(j.out)).toMatchObject({ ok: false, command: 'start', error: { stage: 'options', code: 'ERR_INVALID_ARG_VALUE' } })
    const rr = await runCli(['restart', idle, '--pid-file', pidFile, '--listen', long()])
    expectUsageError(rr, 'restart', 'is longer than 107 bytes')
  })

  it('the same unix: path twice: exit 2 with the Try --help line', async () => {
    const sock = `unix:${join(dir, 's.sock')}`
    const r = await runCli(['start', idle, '--pid-file', join(dir, 'app.pid'), '--listen', sock, '--listen', `${sock},name=again`])
    expectUsageError(r, 'start', 'is given twice')
  })

  it('more sockets than the helper passes (128): exit 2', async () => {
    const specs = Array.from({ length: 129 }, (_, i) => ['--listen', `unix:${join(dir, `s${i}`)}`]).flat()
    const r = await runCli(['start', idle, '--pid-file', join(dir, 'app.pid'), ...specs])
    expectUsageError(r, 'start', 'at most 128 listening sockets, got 129')
  })

  it('--listen-inherited without sockets of this process: a usage error too (stage options)', async () => {
    const r = await runCli(['start', idle, '--listen-inherited'], { ...process.env, LISTEN_PID: '1', LISTEN_FDS: '1' })
    expectUsageError(r, 'start', /LISTEN_PID is 1, not this process/)
  })

  // Every duration option, with a value under the 1 ms the helper and the supervisor keep.
  const durations: [string, string[]][] = [
    ['start --wait-ready', ['start', idle, '--wait-ready', '0.5ms']],
    ['start --startup-grace', ['start', idle, '--startup-grace', '0.5ms']],
    ['start --respawn-delay', ['start', idle, '--respawn', '--respawn-delay', '0.0001']],
    ['start --respawn-max-delay', ['start', idle, '--respawn', '--respawn-max-delay', '0.9ms']],
    ['start --respawn-limit window', ['start', idle, '--respawn', '--respawn-limit', '5/0.0002s']],
    ['start --min-uptime', ['start', idle, '--respawn', '--min-uptime', '0.0009s']],
    ['start --stop-timeout', ['start', idle, '--respawn', '--stop-timeout', '0.000001m']],
    ['restart --startup-grace', ['restart', idle, '--startup-grace', '0.1ms']],
    ['restart --graceful --timeout', ['restart', '--graceful', '--timeout', '0.5ms']],
    ['stop --timeout', ['stop', '--timeout', '0.0001']],
    ['unit --respawn-delay', ['unit', idle, '--respawn', '--respawn-delay', '0.5ms']],
  ]
  it.each(durations)('%s under 1 ms: exit 2, "0 or at least 1 ms"', async (_what, args) => {
    const pidFile = join(dir, 'd.pid')
    pidFiles.push(pidFile)
    const command = args[0]
    const r = await runCli([...args, '--pid-file', pidFile])
    expectUsageError(r, command, /must be (0 or )?at least 1 ms/)
    expect(r.out).toBe('')
    expect(status(pidFile).code).toBe(3)
  })

  it('1 ms and 0 are still durations; a fraction above 1 ms rounds up, exactly', async () => {
    const pidFile = join(dir, 'ok.pid')
    pidFiles.push(pidFile)
    const r = await runCli(['start', idle, '--pid-file', pidFile, '--startup-grace', '0', '--respawn', '--respawn-delay', '1ms', '--stop-timeout', '2.007', '--json'])
    expect(r.code, r.err).toBe(0)
    const d = JSON.parse(r.out) as { pid: number; supervisorPid: number; respawn: { delayMs: number; stopTimeoutMs: number } }
    pids.add(d.pid)
    pids.add(d.supervisorPid)
    expect(d.respawn).toMatchObject({ delayMs: 1, stopTimeoutMs: 2007 })
  })

  it('the API refuses the same durations at stage options, with the same rule', async () => {
    const entry = idle
    const refused = async (p: Promise<unknown>) =>
      p.then(
        () => expect.unreachable('accepted'),
        (e: unknown) => e as DaemonizeError,
      )
    for (const options of [
      { entry, waitReadyMs: 0.5 },
      { entry, startupGraceMs: 0.0001 },
      { entry, pidFile: join(dir, 'api.pid'), respawn: { delayMs: 0.1 } },
      { entry, pidFile: join(dir, 'api.pid'), respawn: { maxDelayMs: 0.9 } },
      { entry, pidFile: join(dir, 'api.pid'), respawn: { windowMs: 0.5 } },
      { entry, pidFile: join(dir, 'api.pid'), respawn: { minUptimeMs: 0.5 } },
      { entry, pidFile: join(dir, 'api.pid'), respawn: { stopTimeoutMs: 0.5 } },
    ]) {
      const e = await refused(daemonize(options))
      expect(e).toMatchObject({ stage: 'options', code: 'ERR_INVALID_ARG_VALUE' })
      expect(e.message).toMatch(/must be (0 or )?at least 1 ms/)
    }
    const missing = join(dir, 'none.pid')
    for (const p of [stop(missing, { timeoutMs: 0.5 }), gracefulRestart(missing, { timeoutMs: 0.1 })]) {
      const e = await refused(p)
      expect(e).toMatchObject({ stage: 'options', code: 'ERR_INVALID_ARG_VALUE' })
      expect(e.message).toMatch(/timeoutMs must be (0 or )?at least 1 ms/)
    }
  })
})
