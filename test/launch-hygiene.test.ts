// What a launch leaves in the caller (no zombie, no fd), and what a launch
// survives (its caller's process group killed the moment it returns).
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { daemonize } from '../src/index.js'
import { execShim, fixtures } from './helpers/caller.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { isAlive, procStat, zombieChildren } from './helpers/proc.js'
import { until } from './helpers/wait.js'

cleanUpDaemons()

const entry = join(fixtures, 'daemon-reporter.mjs')
const ownFds = () => readdirSync('/proc/self/fd').length

describe('launch hygiene', () => {
  it('leaves no zombie and no fd in the caller after many launches', async () => {
    // Warm up (the first launch loads the addon, which keeps its own handles).
    track((await daemonize({ entry, execPath: execShim, preload: false, args: ['--exit'] })).pid)
    const fdsBefore = ownFds()
    const launches = await Promise.all(
      Array.from({ length: 40 }, () => daemonize({ entry, execPath: execShim, preload: false, args: ['--exit'] })),
    )
    for (const d of launches) track(d.pid)
    for (let i = 0; i < 20; i++) track((await daemonize({ entry, execPath: execShim, preload: false })).pid)
    expect(new Set(launches.map((d) => d.pid)).size).toBe(40)
    expect(zombieChildren()).toEqual([])
    expect(ownFds()).toBe(fdsBefore)
  })

  it('does not block the event loop while it waits', async () => {
    let ticks = 0
    const timer = setInterval(() => ticks++, 5)
    try {
      const d = await daemonize({ entry, execPath: execShim, preload: false, startupGraceMs: 300 })
      track(d.pid)
      // a blocked loop would have run the timer at most once during the 300 ms window
      expect(ticks).toBeGreaterThan(5)
    } finally {
      clearInterval(timer)
    }
  })

  it('returns only once the daemon has left the caller\'s process group', async () => {
    // Several launchers return before the daemon is in its own session and
    // lose it when the caller's group is killed at once (ANCHORS.md).
    for (let i = 0; i < 10; i++) {
      const caller = spawn(
        process.execPath,
        [join(fixtures, 'caller-launch-then-kill.mjs'), JSON.stringify({ entry, execPath: execShim, preload: false })],
        { detached: true, stdio: ['ignore', 'pipe', 'inherit'] },
      )
      let out = ''
      caller.stdout.on('data', (b) => (out += b))
      // 'close', not 'exit': 'exit' can come before its stdout (the pid) has been read.
      const signal = await new Promise((r) => caller.on('close', (_code, sig) => r(sig)))
      expect(signal).toBe('SIGKILL')
      const pid = track(Number(out.trim()))
      expect(pid).toBeGreaterThan(0)
      await until(`pid ${pid} to be reparented to 1`, () => procStat(pid).ppid === 1, { seen: () => procStat(pid) })
      expect(isAlive(pid)).toBe(true)
      expect(procStat(pid).session).not.toBe(caller.pid)
    }
  })
})
