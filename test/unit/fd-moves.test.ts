// The fd lift (native/fd_moves.c) through test/fixtures/fd-moves-driver.c:
// fds 0..8 open, 9 not.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root } from '../helpers/caller.js'

const driver = join(root, 'build', 'test', 'fd-moves-driver')

function lift(...moves: string[]): string[] {
  const r = spawnSync(driver, moves, { encoding: 'utf8' })
  expect(r.status, r.stderr).toBe(0)
  return r.stdout.trim().split('\n')
}

describe('daemon_fd_moves_lift', () => {
  it('refuses a source that is not open, even where a copy would land on its number (EBADF)', () => {
    // The copy of fd 0 (above the highest target, 1) would take fd 9.
    expect(lift('0:0', '9:1')).toEqual(['err=9 failed=1', 'same', 'closed'])
  })

  it('checks every source before copying anything', () => {
    expect(lift('9:1', '0:0')).toEqual(['err=9 failed=0', 'closed', 'same'])
  })

  it('lifts open sources at or below the highest target', () => {
    const out = lift('3:4', '4:3')
    expect(out[0]).toBe('err=0 failed=-1')
  })
})
