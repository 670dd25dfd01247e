// daemonize() in a worker_threads Worker that is terminated mid-launch
// (issue 9): no JS will ever finish that launch, so the addon's environment
// cleanup hook must. The caller (test/fixtures/worker-launch.mjs) reports
// what was left in its own process; this file judges it.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fixtures } from './helpers/caller.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { isAlive } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

interface Left {
  daemon: number
  helper: number
  helperWasChild: boolean
  daemonAlive: boolean
  helperAlive: boolean
  helperStillChild: boolean
  zombies: number[]
  fdCount: { before: number; after: number }
  leakedFds: string[]
  fresh: { ok: boolean; pid?: number; code?: string; message?: string }
}

describe('a Worker terminated while its daemonize() waits for ready()', () => {
  it('leaves no helper (running or zombie), no daemon, no fd and no locked pid file in the caller', () => {
    const dir = scratchDir('nd-worker-')
    const r = spawnSync(
      process.execPath,
      [
        join(fixtures, 'worker-launch.mjs'),
        join(dir, 'app.pid'),
        join(dir, 'app.log'),
        join(fixtures, 'daemon-never-ready.js'),
        join(fixtures, 'daemon-idle.js'),
        `marker-${process.pid}-${Date.now()}`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    )
    const line = r.stdout.trim().split('\n').pop() ?? ''
    expect(line, r.stderr).toMatch(/^\{/)
    const left = JSON.parse(line) as Left
    if (left.daemon > 0) track(left.daemon)
    if (left.fresh.pid !== undefined) track(left.fresh.pid)
    if (left.helperAlive) track(left.helper)

    expect(left.daemon).toBeGreaterThan(0)
    expect(left.helperWasChild).toBe(true)
    // The launch was aborted, not left half-done:
    expect(left.helperAlive).toBe(false)
    expect(left.helperStillChild).toBe(false)
    expect(left.zombies).toEqual([])
    expect(left.daemonAlive).toBe(false)
    expect(isAlive(left.daemon)).toBe(false)
    // no status pipe, log or pid-file fd stays open in the caller
    expect(left.leakedFds).toEqual([])
    expect(left.fdCount.after).toBe(left.fdCount.before)
    // and the pid file is free: a fresh start with it works.
    expect(left.fresh).toMatchObject({ ok: true })
    expect(r.status).toBe(0)
  })
})
