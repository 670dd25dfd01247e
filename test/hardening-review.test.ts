// Regressions from an attack review of the hardened pid file and log tail:
// a lock that outlives the pid its pid file names, a lock file other users
// may hold open, and a log tail that would replay a daemon's terminal
// control sequences on root's terminal.
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { daemonize } from '../src/launch/daemonize.js'
import { escapeControls } from '../src/escape.js'
import { logTail } from '../src/logs/tail.js'
import { status } from '../src/control/status.js'
import { stop } from '../src/control/stop.js'
import { fixtures } from './helpers/caller.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { failure as expectFailure } from './helpers/expect-failure.js'
import { until } from './helpers/wait.js'

cleanUpDaemons()

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nd-review-'))
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
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

describe('the log tail', () => {
  it('escapes terminal control sequences the daemon wrote', () => {
    const log = join(dir, 'c.log')
    writeFileSync(log, 'before\n\x1b[3A\r\x1b[Jstarted /srv/app.js as pid 4242\x1b]0;owned\x07\ttab\n')
    const fd = openSync(log, 'a')
    try {
      const tail = logTail(fd) as string
      // The lines stay lines; within one, every control is escaped, tab too (hardening round 2, defect 1).
      expect(tail).toBe('before\n\\x1b[3A\\x0d\\x1b[Jstarted /srv/app.js as pid 4242\\x1b]0;owned\\x07\\x09tab')
      expect(tail).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/)
    } finally {
      closeSync(fd)
    }
    expect(escapeControls('a\u009bb\x7f')).toBe('a\\x9bb\\x7f')
  })
})
