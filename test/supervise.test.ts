// Supervision (--respawn), with real processes read from /proc: a killed
// daemon comes back as a new generation that passes the same checklist,
// after the backoff's delay; the pid file names the supervisor; status
// shows the current daemon; stop and `kill -TERM $(cat pidfile)` stop
// everything; the first generation decides the launch; the crash-loop
// limit, --no-respawn-exit and on-failure/always.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { status } from '../src/control/status.js'
import { stop } from '../src/control/stop.js'
import { execShim } from './helpers/caller.js'
import { until } from './helpers/wait.js'
import { isAlive, procStat, procStatus } from './helpers/proc.js'
import { app, cli, dir, type Event, events, expectCleanGeneration, pidFiles, pids, sessionMembers, setUpServices, shims, startService } from './helpers/services.js'

setUpServices()

const SMALL = ['--respawn-delay', '50ms', '--respawn-max-delay', '400ms', '--respawn-limit', '20/60s', '--min-uptime', '500ms']
const MIN_UPTIME = 500

/** The delays the policy must have chosen, from the uptimes the supervisor logged. */
function expectedDelays(exits: Event[]): { delay: number; certain: boolean }[] {
  let streak = 0
  return exits.map((e) => {
    const up = e.uptimeMs as number
    // Near the good-start point either outcome is right: the timer and the death race.
    const certain = Math.abs(up - MIN_UPTIME) > 50
    streak = up >= MIN_UPTIME ? 1 : streak + 1
    return { delay: Math.min(50 * 2 ** (streak - 1), 400), certain }
  })
}

describe('--respawn', () => {
  it('restarts a killed daemon 10 times, with the backoff, each generation passing the checklist', async () => {
    const log = join(dir, 'app.log')
    const pidFile = join(dir, 'app.pid')
    const sup = startService(
      [app, '--exec-path', execShim, '--no-preload', '--log-file', log, '--respawn', ...SMALL, '--startup-grace', '0'],
      pidFile,
    )
    // the pid file names the supervisor; the supervisor is in the session but does not lead it, reparented
    expect(readFileSync(pidFile, 'utf8')).toBe(`${sup.supervisorPid}\n`)
    const st = procStat(sup.supervisorPid)
    expect(st.session).toBe(sup.helperPid)
    expect(st.ttyNr).toBe(0)
    await until('the supervisor to be reparented', () => procStat(sup.supervisorPid).ppid !== sup.helperPid)
    // No allocation after start: the supervisor's data segment (heap included) never grows.
    const vmData = () => procStatus(sup.supervisorPid).VmData
    const dataBefore = vmData()

    const seen: number[] = []
    for (let i = 0; i < 11; i++) {
      await until(`the exec shim line of generation ${i + 1}`, () => shims(log).length > i, { timeoutMs: 20_000 })
      const s = shims(log)[i]
      expectCleanGeneration(s, sup, log)
      expect(seen).not.toContain(s.pid)
      seen.push(s.pid)
      pids.add(s.pid)
      // status names the current daemon
      await until(`status to name generation ${i + 1} (pid ${s.pid}) as running`, () => status(pidFile).supervisor?.daemonPid === s.pid && status(pidFile).state === 'running')
      if (i === 10) break
      // Let generation 6 become a good start: the backoff starts over after it.
      if (i === 6) await until('generation 7 to be up past the minimum uptime', () => (status(pidFile).supervisor?.uptimeMs ?? 0) > MIN_UPTIME + 300)
      process.kill(s.pid, 'SIGKILL')
    }
    expect(seen[0]).toBe(sup.pid)

    const ev = events(log)
    const exits = ev.filter((e) => e.event === 'exit')
    const restarts = ev.filter((e) => e.event === 'restart')
    const starts = ev.filter((e) => e.event === 'start')
    expect(exits).toHaveLength(10)
    expect(restarts).toHaveLength(10)
    expect(starts).toHaveLength(10)
    for (const e of exits) expect(e.signal).toBe('SIGKILL')
    const expected = expectedDelays(exits)
    restarts.forEach((r, i) => {
      if (expected[i].certain) expect(r.delayMs, `restart ${i + 1}`).toBe(expected[i].delay)
      // never sooner than the delay; later only by what a loaded machine adds
      expect(starts[i].time - exits[i].time).toBeGreaterThanOrEqual(r.delayMs as number)
      expect(starts[i].time - exits[i].time).toBeLessThan((r.delayMs as number) + 5000)
      expect(starts[i].daemonPid).toBe(seen[i + 1])
    })
    // the doubling reached its cap, and the good start reset it
    expect(restarts.map((r) => r.delayMs)).toContain(400)
    expect(restarts[6].delayMs).toBe(50)

    expect(vmData()).toBe(dataBefore)
    const s = status(pidFile)
    expect(s).toMatchObject({ state: 'running', code: 0, pid: sup.supervisorPid })
    expect(s.supervisor).toMatchObject({ daemonPid: seen[10], restarts: 10, generation: 11, lastExit: { signal: 'SIGKILL' } })
    expect(s.message).toMatch(new RegExp(`daemon pid ${seen[10]}.*10 restarts, last exit: signal SIGKILL`))

    // stop stops everything: the supervisor, the daemon, the whole session
    const r = await stop(pidFile)
    expect(r).toMatchObject({ wasRunning: true, pid: sup.supervisorPid, daemonPid: seen[10], escalated: false })
    expect(isAlive(sup.supervisorPid)).toBe(false)
    expect(sessionMembers(sup.helperPid)).toEqual([])
    expect(existsSync(pidFile)).toBe(false)
    expect(existsSync(`${pidFile}.lock`)).toBe(false)
    expect(existsSync(`${pidFile}.state`)).toBe(false)
  })

  it('kill -TERM of the pid in the pid file stops the service instead of provoking a respawn', async () => {
    const log = join(dir, 'term.log')
    const pidFile = join(dir, 'term.pid')
    const sup = startService([app, '--log-file', log, '--respawn', 'always', '--respawn-delay', '10ms', '--', dir], pidFile)
    const supervisor = Number(readFileSync(pidFile, 'utf8'))
    expect(supervisor).toBe(sup.supervisorPid)
    process.kill(supervisor, 'SIGTERM')
    await until('the supervisor and the daemon to exit', () => !isAlive(supervisor) && !isAlive(sup.pid))
    expect(sessionMembers(sup.helperPid)).toEqual([])
    expect(events(log).map((e) => e.event)).toEqual(['launched', 'stop', 'stopped'])
    expect(status(pidFile)).toMatchObject({ state: 'stopped', code: 3, supervisor: { stopSignal: 'SIGTERM' } })
    expect(status(pidFile).message).toMatch(/not running: stopped by SIGTERM/)
  })

  it('a first generation that crashes fails the launch, exactly as without --respawn, and leaves nothing', () => {
    writeFileSync(join(dir, 'exit-now'), '3')
    const pidFile = join(dir, 'crash.pid')
    const log = join(dir, 'crash.log')
    pidFiles.push(pidFile)
    const r = cli(['start', app, '--pid-file', pidFile, '--log-file', log, '--respawn', '--json', '--', dir])
    expect(r.status, r.output).toBe(1)
    const err = JSON.parse(r.stdout.trim().split('\n').at(-1) as string).error
    expect(err).toMatchObject({ stage: 'running', exitCode: 3 })
    const sup = events(log)
    expect(sup.map((e) => e.event)).toEqual([])
    expect(existsSync(pidFile)).toBe(false)
    expect(existsSync(`${pidFile}.lock`)).toBe(false)
    expect(existsSync(`${pidFile}.state`)).toBe(false)
    const helperPid = (JSON.parse(readFileSync(log, 'utf8').split('\n').find((l) => l.includes('helperPid')) as string) as { helperPid: number })
      .helperPid
    expect(sessionMembers(helperPid)).toEqual([])
  })

  it('stop during a backoff wait starts nothing new', async () => {
    const log = join(dir, 'wait.log')
    const pidFile = join(dir, 'wait.pid')
    const sup = startService([app, '--log-file', log, '--respawn', '--respawn-delay', '3s', '--startup-grace', '0', '--', dir], pidFile)
    process.kill(sup.pid, 'SIGKILL')
    await until('status restarting', () => status(pidFile).state === 'restarting')
    expect(status(pidFile).message).toMatch(/^restarting in \d(\.\d)? s \(restart 1\)/)
    const r = await stop(pidFile)
    expect(r.wasRunning).toBe(true)
    expect(isAlive(sup.supervisorPid)).toBe(false)
    // A fixed sleep, to prove that nothing starts: past the 3 s delay, still nothing.
    await new Promise((res) => setTimeout(res, 3500))
    expect(sessionMembers(sup.helperPid)).toEqual([])
    expect(events(log).filter((e) => e.event === 'start')).toEqual([])
  })
})

describe('the policy, for real', () => {
  it('with the defaults, a daemon that exits 1 at once gives up after 5 deaths; status says failed (1) and why; the next start begins afresh', async () => {
    const log = join(dir, 'loop.log')
    const pidFile = join(dir, 'loop.pid')
    const sup = startService([app, '--log-file', log, '--respawn', '--', dir], pidFile)
    writeFileSync(join(dir, 'exit-now'), '1')
    process.kill(sup.pid, 'SIGKILL')
    await until('the supervisor to give up and exit', () => !isAlive(sup.supervisorPid), { timeoutMs: 20_000 })
    const ev = events(log)
    const gaveUp = ev.find((e) => e.event === 'gave-up')
    expect(gaveUp?.msg).toBe('gave up: 5 deaths within 60000 ms (limit 5/60000 ms); last: exit code 1')
    expect(ev.filter((e) => e.event === 'exit')).toHaveLength(5)
    expect(ev.filter((e) => e.event === 'restart').map((e) => e.delayMs)).toEqual([100, 200, 400, 800])
    const s = status(pidFile)
    expect(s).toMatchObject({ state: 'failed', code: 1, supervisor: { reason: 'crash-loop', deathsInWindow: 5, lastExit: { code: 1 } } })
    expect(s.message).toBe('failed: gave up after 5 deaths within 1 min (limit 5/1 min); last exit: exit code 1')
    expect(cli(['status', '--pid-file', pidFile]).status).toBe(1)
    expect(sessionMembers(sup.helperPid)).toEqual([])

    // the lock is free: a new start begins afresh
    const { rmSync } = await import('node:fs')
    rmSync(join(dir, 'exit-now'))
    const again = startService([app, '--log-file', log, '--respawn', '--', dir], pidFile)
    expect(status(pidFile)).toMatchObject({ state: 'running', supervisor: { restarts: 0, generation: 1, daemonPid: again.pid } })
  })

  it('--no-respawn-exit: a listed code stops for good (status 3, the reason)', async () => {
    const log = join(dir, 'nore.log')
    const pidFile = join(dir, 'nore.pid')
    const sup = startService([app, '--log-file', log, '--respawn', 'always', '--no-respawn-exit', '125', '--', dir], pidFile)
    writeFileSync(join(dir, 'usr2-code'), '125')
    process.kill(sup.pid, 'SIGUSR2')
    await until('the supervisor to exit', () => !isAlive(sup.supervisorPid))
    expect(status(pidFile)).toMatchObject({ state: 'stopped', code: 3, supervisor: { reason: 'no-respawn-exit', lastExit: { code: 125 } } })
    expect(events(log).filter((e) => e.event === 'start')).toEqual([])
  })

  it('exit 0: on-failure does not restart it, always does', async () => {
    writeFileSync(join(dir, 'usr2-code'), '0')
    const onFailure = join(dir, 'of.pid')
    const a = startService([app, '--log-file', join(dir, 'of.log'), '--respawn', 'on-failure', '--', dir], onFailure)
    process.kill(a.pid, 'SIGUSR2')
    await until('the on-failure supervisor to exit', () => !isAlive(a.supervisorPid))
    expect(status(onFailure)).toMatchObject({ state: 'stopped', code: 3, supervisor: { reason: 'clean-exit', lastExit: { code: 0 } } })

    const always = join(dir, 'al.pid')
    const b = startService([app, '--log-file', join(dir, 'al.log'), '--respawn', 'always', '--respawn-delay', '10ms', '--', dir], always)
    process.kill(b.pid, 'SIGUSR2')
    await until('the always supervisor to restart after exit 0', () => {
      const s = status(always).supervisor
      return s?.restarts === 1 && s.daemonPid !== undefined && s.daemonPid !== b.pid
    })
    expect(status(always).supervisor?.lastExit).toEqual({ code: 0 })
  })
})

describe('readiness under a supervisor', () => {
  it('the launch resolves on the first ready(); a later generation is ready when it says so, logged and in status', async () => {
    writeFileSync(join(dir, 'ready'), '')
    const log = join(dir, 'ready.log')
    const pidFile = join(dir, 'ready.pid')
    const sup = startService([app, '--log-file', log, '--respawn', '--respawn-delay', '10ms', '--wait-ready', '20s', '--', dir], pidFile)
    expect(status(pidFile).supervisor).toMatchObject({ daemonPid: sup.pid, ready: true })
    process.kill(sup.pid, 'SIGKILL')
    await until('a later generation\'s ready event', () => events(log).some((e) => e.event === 'ready'))
    const next = events(log).find((e) => e.event === 'ready')?.daemonPid as number
    pids.add(next)
    expect(next).not.toBe(sup.pid)
    expect(status(pidFile).supervisor).toMatchObject({ daemonPid: next, ready: true, restarts: 1 })
    expect(status(pidFile).message).toMatch(/, ready,/)
  })

  it('stop while a new generation is starting (not ready yet) stops it and starts nothing new', async () => {
    writeFileSync(join(dir, 'ready'), '')
    const log = join(dir, 'slow.log')
    const pidFile = join(dir, 'slow.pid')
    const sup = startService([app, '--log-file', log, '--respawn', '--respawn-delay', '10ms', '--wait-ready', '20s', '--', dir], pidFile)
    writeFileSync(join(dir, 'ready'), '60000') // later generations take a minute to be ready
    process.kill(sup.pid, 'SIGKILL')
    await until('the supervisor\'s start event (a new generation)', () => events(log).some((e) => e.event === 'start'))
    const starting = events(log).find((e) => e.event === 'start')?.daemonPid as number
    pids.add(starting)
    expect(status(pidFile).supervisor).toMatchObject({ daemonPid: starting, ready: false })
    const r = await stop(pidFile)
    expect(r).toMatchObject({ wasRunning: true, daemonPid: starting, escalated: false })
    expect(isAlive(starting)).toBe(false)
    expect(sessionMembers(sup.helperPid)).toEqual([])
    // A fixed sleep, to prove that nothing starts after the stop (the supervisor has exited anyway).
    await new Promise((res) => setTimeout(res, 300))
    const after = events(log)
    expect(after.filter((e) => e.event === 'start')).toHaveLength(1)
    expect(after.at(-1)?.event).toBe('stopped')
  })
})

describe('restart and --json with a supervisor', () => {
  it('restart starts a fresh supervisor; status --json, stop --json and reload --json carry the supervisor fields', async () => {
    const log = join(dir, 'rs.log')
    const pidFile = join(dir, 'rs.pid')
    const args = [app, '--log-file', log, '--respawn', '--respawn-delay', '10ms', '--', dir]
    const first = startService(args, pidFile)
    process.kill(first.pid, 'SIGKILL')
    await until('status running after 1 restart', () => status(pidFile).supervisor?.restarts === 1 && status(pidFile).state === 'running')
    const json = JSON.parse(cli(['status', '--pid-file', pidFile, '--json']).stdout)
    expect(json).toMatchObject({ state: 'running', code: 0, pid: first.supervisorPid, supervisor: { restarts: 1, generation: 2 } })
    const reloaded = cli(['reload', '--pid-file', pidFile, '--json'])
    expect(reloaded.status, reloaded.output).toBe(0)
    expect(JSON.parse(reloaded.stdout)).toMatchObject({ pid: first.supervisorPid, daemonPid: json.supervisor.daemonPid })
    const r = cli(['restart', '--pid-file', pidFile, '--json', ...args])
    expect(r.status, r.output).toBe(0)
    const again = JSON.parse(r.stdout.trim().split('\n').at(-1) as string)
    pids.add(again.supervisorPid)
    pids.add(again.pid)
    expect(again.supervisorPid).not.toBe(first.supervisorPid)
    expect(isAlive(first.supervisorPid)).toBe(false)
    expect(status(pidFile).supervisor).toMatchObject({ restarts: 0, generation: 1, daemonPid: again.pid })
    const stopped = cli(['stop', '--pid-file', pidFile, '--json'])
    expect(stopped.status, stopped.output).toBe(0)
    expect(JSON.parse(stopped.stdout.trim().split('\n').at(-1) as string)).toMatchObject({ wasRunning: true, pid: again.supervisorPid, daemonPid: again.pid })
  })
})

describe('a first generation that fails its checklist', () => {
  it('fails the launch at the step that failed, with its errno, as without --respawn', () => {
    const pidFile = join(dir, 'noexec.pid')
    pidFiles.push(pidFile)
    const notExecutable = join(dir, 'not-executable')
    writeFileSync(notExecutable, '#!/bin/sh\n', { mode: 0o644 })
    const r = cli(['start', app, '--pid-file', pidFile, '--exec-path', notExecutable, '--respawn', '--json', '--', dir])
    expect(r.status, r.output).toBe(1)
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1) as string).error).toMatchObject({ stage: 'exec', code: 'EACCES' })
    expect(existsSync(pidFile)).toBe(false)
    expect(existsSync(`${pidFile}.state`)).toBe(false)
  })
})

describe('readiness under the supervisor', () => {
  it('READY=1 counts only as a whole line: NOTREADY=1, READY=10, READY=1x leave the first generation not ready', () => {
    writeFileSync(join(dir, 'notready'), '')
    const pidFile = join(dir, 'notready.pid')
    pidFiles.push(pidFile)
    const r = cli(['start', app, '--pid-file', pidFile, '--respawn', '--wait-ready', '3s', '--json', '--', dir])
    expect(r.status, r.output).toBe(1)
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1) as string).error).toMatchObject({ stage: 'ready', code: 'ERR_DAEMON_TIMEOUT' })
    expect(existsSync(pidFile)).toBe(false)
  })
})
