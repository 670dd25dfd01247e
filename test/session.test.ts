// getsid()/getpgid(): session inspection Node lacks, with Node-style errors.
import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { getpgid, getsid } from '../src/index.js'
import { procStat } from './helpers/proc.js'

function sleeper(detached: boolean) {
  const child = spawn('sleep', ['30'], { detached, stdio: 'ignore' })
  return child
}

describe('getsid / getpgid', () => {
  it('report this process\'s own session and group', () => {
    const me = procStat(process.pid)
    expect(getsid()).toBe(me.session)
    expect(getsid(0)).toBe(me.session)
    expect(getsid(process.pid)).toBe(me.session)
    expect(getpgid()).toBe(me.pgrp)
  })

  it('a child inherits the session; a detached child leads a new one', async () => {
    const inherit = sleeper(false)
    const leader = sleeper(true)
    try {
      await new Promise((r) => leader.on('spawn', r))
      expect(getsid(inherit.pid)).toBe(getsid())
      expect(getsid(leader.pid)).toBe(leader.pid)
      expect(getpgid(leader.pid)).toBe(leader.pid)
    } finally {
      inherit.kill('SIGKILL')
      leader.kill('SIGKILL')
    }
  })

  it('system processes can be asked about', () => {
    expect(getsid(1)).toBeGreaterThanOrEqual(0)
    expect(getpgid(1)).toBeGreaterThanOrEqual(0)
  })

  it('a pid that does not exist throws ESRCH like a Node SystemError', () => {
    const pid = 0x7ffffff0
    for (const [fn, syscall] of [
      [getsid, 'getsid'],
      [getpgid, 'getpgid'],
    ] as const) {
      let err: NodeJS.ErrnoException | undefined
      try {
        fn(pid)
      } catch (e) {
        err = e as NodeJS.ErrnoException
      }
      expect(err).toBeInstanceOf(Error)
      expect(err).toMatchObject({ code: 'ESRCH', errno: -3, syscall })
    }
  })

  it('rejects a pid that is not a non-negative integer', () => {
    expect(() => getsid(-1)).toThrow(RangeError)
    expect(() => getpgid(1.5)).toThrow(/pid must be an integer/)
  })
})
