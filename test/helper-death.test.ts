// A helper killed right after its fork, before it reported the daemon's pid
// (issue 9, defect 6): the launch must fail with ERR_HELPER_DIED and leave
// nothing in the helper's session. Deterministic: the test arms the helper's
// fault-injection point (NODE_DAEMONIZE_TEST_FAULT=helper-stop-after-fork),
// waits until the helper has stopped itself and the daemon has exec'd (with
// a start-up window) or stopped short of its execve (without one: the
// daemon execs only once the helper that forwards its records is gone, and
// never after a helper that did not read them all; issue 23), then kills
// the helper.
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fixtures, runCaller } from './helpers/caller.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { until } from './helpers/wait.js'
import { childrenOf, isAlive, procStat } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

const entry = join(fixtures, 'daemon-idle.js')

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
  } catch {
    return []
  }
}

/** Live (not zombie) processes of session sid, its leader excluded. */
function sessionMembers(sid: number): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === sid) continue
    try {
      const st = procStat(Number(name))
      if (st.session === sid && st.state !== 'Z') out.push(st.pid)
    } catch {
      // gone
    }
  }
  return out
}

/** Live processes running our entry with this marker argument. */
function daemonsWith(marker: string): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const argv = cmdline(Number(name))
    if (argv.includes(entry) && argv.includes(marker) && isAlive(Number(name))) out.push(Number(name))
  }
  return out
}

describe('a helper killed between its fork and its report', () => {
  it.each([
    ['without a start-up window', { startupGraceMs: 0 }],
    ['during a start-up window', { startupGraceMs: 5000 }],
  ])('%s: ERR_HELPER_DIED, nothing left in its session, and the next start makes one daemon', async (_name, window) => {
    const dir = scratchDir('nd-helper-death-')
    const marker = `marker-${process.pid}-${Date.now()}-${window.startupGraceMs}`
    const options = { entry, pidFile: join(dir, 'app.pid'), logFile: join(dir, 'app.log'), args: [marker], ...window }

    const caller = spawn(process.execPath, [join(fixtures, 'caller-launch.mjs'), JSON.stringify(options)], {
      env: { ...process.env, NODE_DAEMONIZE_TEST_FAULT: 'helper-stop-after-fork' },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    caller.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
    const exited = new Promise<number | null>((resolve) => caller.on('close', resolve))

    // The helper has stopped itself right after its fork...
    const helper = await until('the helper to stop itself after its fork (state T)', () => {
      const h = childrenOf(caller.pid as number).find((p) => procStat(p).comm.startsWith('node-daemonize'))
      return h !== undefined && procStat(h).state === 'T' ? h : undefined
    })
    // ...and the daemon it forked runs on unreported: with a window it has
    // exec'd our entry; without one it waits, before its execve, for the
    // helper to read "exec" and be gone (asleep, still the helper's program).
    const handoff = window.startupGraceMs === 0
    const daemon = await until(`the unreported daemon ${handoff ? 'to wait before its execve' : `to exec its entry (${marker})`} in the helper's session`, () =>
      sessionMembers(helper).find((p) => (handoff ? procStat(p).comm.startsWith('node-daemonize') && procStat(p).state === 'S' : cmdline(p).includes(marker))),
    )
    track(daemon)

    if (handoff) {
      // The caller stopped, so that it cannot empty the session meanwhile:
      // the daemon sees the helper gone with "exec" unread, and ends
      // without exec'ing (its entry never runs).
      process.kill(caller.pid as number, 'SIGSTOP')
      process.kill(helper, 'SIGKILL')
      await until('the daemon to end or exec', () => !isAlive(daemon) || cmdline(daemon).includes(marker) || undefined)
      expect(cmdline(daemon)).not.toContain(marker)
      expect(isAlive(daemon)).toBe(false)
      process.kill(caller.pid as number, 'SIGCONT')
    } else {
      process.kill(helper, 'SIGKILL')
    }
    expect(await exited).toBe(1)
    const result = JSON.parse(out.trim().split('\n').pop() as string) as { ok: boolean; error: { code: string; stage: string } }
    expect(result.ok).toBe(false)
    expect(result.error).toMatchObject({ code: 'ERR_HELPER_DIED', stage: 'helper' })
    // Nothing of that launch is left running: not the daemon, not anything else in the session.
    expect(sessionMembers(helper)).toEqual([])
    expect(isAlive(daemon)).toBe(false)
    // Without a window, the daemon never exec'd: the entry never printed.
    if (handoff) expect(readFileSync(options.logFile, 'utf8')).not.toContain('idle ')

    // The pid file is free again: a plain start works, and makes exactly one daemon.
    const next = runCaller({ ...options, startupGraceMs: 0 })
    expect(next.error).toBeUndefined()
    expect(next.ok).toBe(true)
    track(next.daemon?.pid as number)
    expect(daemonsWith(marker)).toEqual([next.daemon?.pid])
  })
})

// A launch without a start-up window ends at the daemon's execve: once the
// helper is gone nothing else bounds it, and a daemon stopped before its
// execve (a process of the service user can SIGSTOP it there) held the
// caller for ever. The caller's own deadline (records.ts handoffDeadlineMs,
// shortened here) ends such a launch loudly, with nothing left. A stopped
// helper stands in for the stopped daemon: either way the pipe never ends.
describe('a launch without a window that never ends', () => {
  it('fails at the caller\'s deadline, kills what it started, and the next start makes one daemon', async () => {
    const dir = scratchDir('nd-handoff-deadline-')
    const marker = `marker-${process.pid}-${Date.now()}-deadline`
    const options = { entry, pidFile: join(dir, 'app.pid'), logFile: join(dir, 'app.log'), args: [marker], startupGraceMs: 0 }
    const started = Date.now()
    const caller = spawn(process.execPath, [join(fixtures, 'caller-launch.mjs'), JSON.stringify(options)], {
      env: { ...process.env, NODE_DAEMONIZE_TEST_FAULT: 'helper-stop-after-fork', NODE_DAEMONIZE_TEST_HANDOFF_MS: '1500' },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    caller.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
    const helper = await until('the helper to stop itself after its fork (state T)', () => {
      const h = childrenOf(caller.pid as number).find((p) => procStat(p).comm.startsWith('node-daemonize'))
      return h !== undefined && procStat(h).state === 'T' ? h : undefined
    })
    const daemon = await until("the daemon in the helper's session", () => sessionMembers(helper)[0])
    track(daemon)
    expect(await new Promise<number | null>((resolve) => caller.on('close', resolve))).toBe(1)
    expect(Date.now() - started).toBeLessThan(15_000)
    const result = JSON.parse(out.trim().split('\n').pop() as string) as { ok: boolean; error: { stage: string; message: string } }
    expect(result.ok).toBe(false)
    expect(result.error.stage).toBe('helper')
    expect(result.error.message).toMatch(/no end of the launch within 1500 ms/)
    expect(sessionMembers(helper)).toEqual([])
    expect(isAlive(daemon)).toBe(false)
    const next = runCaller({ ...options })
    expect(next.ok, JSON.stringify(next.error)).toBe(true)
    track(next.daemon?.pid as number)
    expect(daemonsWith(marker)).toEqual([next.daemon?.pid])
  })
})
