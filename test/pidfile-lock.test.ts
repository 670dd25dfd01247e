// The pid file's lock file, as status and start judge it: a lock that
// outlives the daemon its pid file names (the daemon handed its lock fd to a
// child, then died) does not make the daemon "running", and a lock file
// other users may open (and so lock) is refused. Both from an attack review
// of the hardened pid file.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { daemonize } from '../src/launch/daemonize.js'
import { status } from '../src/control/status.js'
import { stop } from '../src/control/stop.js'
import { fixtures } from './helpers/caller.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { failure as expectFailure } from './helpers/expect-failure.js'
import { until } from './helpers/wait.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

let dir: string
beforeEach(() => {
  dir = scratchDir('nd-pidfile-lock-')
})

describe('a lock held by a process the daemon handed its lock fd to', () => {
  it('does not make status report the dead pid as running', async () => {
    const pidFile = join(dir, 'a.pid')
    const childFile = join(dir, 'child.pid')
    const d = await daemonize({ entry: join(fixtures, 'daemon-hands-off-lock.cjs'), args: [childFile], pidFile, preload: false })
    track(d.pid)
    const child = await until('the daemon to name the child it handed its lock to', () => {
      const t = existsSync(childFile) ? readFileSync(childFile, 'utf8') : ''
      return t.endsWith('\n') ? Number(t) : undefined
    })
    track(child)
    await untilGone(d.pid)
    const s = status(pidFile)
    expect(s).toMatchObject({ state: 'dead', code: 1, pid: d.pid })
    expect(s.message).toContain('no longer holds its lock')
    // Hardening round 2, defect 7: stop ends the holder (of the service's
    // recorded uid: here the caller's own) and reclaims the files.
    const r = await stop(pidFile)
    expect(r.message).toContain(`stopped pid ${child}, which held it`)
    await untilGone(child)
    expect(existsSync(pidFile) || existsSync(`${pidFile}.lock`)).toBe(false)
  })
})

describe('a lock file with group or other access', () => {
  it('is refused by start (another user may hold it open, and its lock), and nothing is started', async () => {
    const pidFile = join(dir, 'b.pid')
    writeFileSync(`${pidFile}.lock`, '', { mode: 0o644 })
    chmodSync(`${pidFile}.lock`, 0o644)
    const err = await expectFailure(daemonize({ entry: join(fixtures, 'lifecycle-plain.js'), pidFile, preload: false }))
    expect(err).toMatchObject({ stage: 'pidfile', code: 'EPERM', path: `${pidFile}.lock` })
    expect(err.message).toContain('mode 0644')
    expect(existsSync(pidFile)).toBe(false)
  })
})
