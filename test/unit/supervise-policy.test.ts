// The supervisor's restart policy (native/supervise_policy.c), driven with
// made-up times through test/fixtures/policy-driver.c: whether a death is
// restarted, the backoff, its reset after a good start, and the sliding
// crash-loop window.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root } from '../helpers/caller.js'

const driver = join(root, 'build', 'test', 'policy-driver')

function run(policy: (string | number)[], events: string[]): string[] {
  const r = spawnSync(driver, policy.map(String), { input: events.join('\n') + '\n', encoding: 'utf8' })
  if (r.status !== 0 && r.stdout.trim() !== 'invalid') throw new Error(`policy-driver failed: ${r.stderr}`)
  return r.stdout.trim().split('\n')
}

describe('restart policy', () => {
  it('doubles the delay from --respawn-delay up to --respawn-max-delay', () => {
    const deaths = Array.from({ length: 8 }, (_, i) => `signal ${i * 10} 9`)
    expect(run(['on-failure', 100, 1000, 20, 60_000], deaths).map((l) => Number(l.split(' ')[1]))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000, 1000,
    ])
  })

  it('starts the backoff over after a good start', () => {
    expect(run(['always', 50, 400, 20, 60_000], ['exit 0 1', 'exit 1 1', 'exit 2 1', 'good', 'exit 3 1', 'exit 4 1'])).toEqual([
      'respawn 50 1',
      'respawn 100 2',
      'respawn 200 3',
      'respawn 50 4',
      'respawn 100 5',
    ])
  })

  it('gives up at N deaths inside any window, at any time in the service life', () => {
    // 4 deaths a minute apart never reach 5 in 60 s; later, 5 inside 60 s do.
    const spread = ['exit 0 1', 'exit 61000 1', 'exit 122000 1', 'exit 183000 1']
    const burst = ['exit 1000000 1', 'good', 'exit 1010000 1', 'good', 'exit 1020000 1', 'exit 1030000 1', 'exit 1059999 1']
    const out = run(['on-failure', 100, 30_000, 5, 60_000], [...spread, ...burst])
    expect(out.slice(0, 4).every((l) => l.startsWith('respawn'))).toBe(true)
    expect(out.slice(4, 8).every((l) => l.startsWith('respawn'))).toBe(true)
    // good starts do not clear the tally: the 5th death within 60 s gives up
    expect(out[8]).toBe('give-up 0 5')
  })

  it('counts a window inclusively and forgets deaths older than it', () => {
    const out = run(['on-failure', 100, 30_000, 3, 1000], ['exit 0 1', 'exit 500 1', 'exit 1001 1', 'exit 1500 1', 'exit 1501 1'])
    expect(out).toEqual(['respawn 100 1', 'respawn 200 2', 'respawn 400 2', 'give-up 0 3', 'give-up 0 3'])
  })

  it('on-failure does not restart exit 0; always does; a listed code stops in both', () => {
    expect(run(['on-failure', 100, 1000, 5, 60_000], ['exit 0 0'])).toEqual(['clean-exit 0 1'])
    expect(run(['always', 100, 1000, 5, 60_000], ['exit 0 0'])).toEqual(['respawn 100 1'])
    expect(run(['on-failure', 100, 1000, 5, 60_000], ['signal 0 15'])).toEqual(['respawn 100 1'])
    expect(run(['always', 100, 1000, 5, 60_000, 125, 3], ['exit 0 125', 'exit 1 3'])).toEqual([
      'no-respawn-exit 0 1',
      'no-respawn-exit 0 2',
    ])
    // a signal is never an exit code: SIGQUIT (3) still restarts
    expect(run(['always', 100, 1000, 5, 60_000, 3], ['signal 0 3'])).toEqual(['respawn 100 1'])
  })

  it('refuses a policy out of range', () => {
    expect(run(['sometimes', 100, 1000, 5, 60_000], [])).toEqual(['invalid'])
    expect(run(['always', 100, 1000, 0, 60_000], [])).toEqual(['invalid'])
    expect(run(['always', 100, 1000, 1001, 60_000], [])).toEqual(['invalid'])
    expect(run(['always', 100, 1000, 5, 0], [])).toEqual(['invalid'])
    expect(run(['always', 2000, 1000, 5, 60_000], [])).toEqual(['invalid'])
  })
})
