// The helper executable driven directly with plans built by a fixture
// (drive-helper.py stands in for the addon): malformed plans are refused at
// stage "plan", and the start-up window's reading of the ready pipe.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fixtures, root } from './helpers/caller.js'

const helper = join(root, 'build', 'Release', 'node-daemonize-helper')
const STAGE_PLAN = 1
const STAGE_READY = 18
const EEXITED = -2
const ETIMEOUT = -3
const EPLAN = -4

interface Outcome {
  records: { stage: number; syscall: number; err: number; value: number }[]
  exit?: number
  stuck?: boolean
}

/** Runs the helper with the fixture's plan for `scenario`; the fixture gives up on it after 10 s. */
function drive(scenario: string): Outcome {
  const r = spawnSync('python3', [join(fixtures, 'drive-helper.py'), helper, scenario], { encoding: 'utf8', timeout: 25_000 })
  expect(r.status, r.stderr).toBe(0)
  const out: Outcome = { records: [] }
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const o = JSON.parse(line)
    if ('stage' in o) out.records.push(o)
    else Object.assign(out, o)
  }
  return out
}

describe('a malformed plan is refused at stage plan (ND_EPLAN)', () => {
  it.each([
    ['plan-size-wrap', 'a strings_len that makes the size sum wrap'],
    ['plan-uid-wrap', 'uid and gid 2^32 (0 as uid_t)'],
    ['plan-uid-minus-one', 'uid -1 with ids to set'],
    ['plan-group-wrap', 'a supplementary group above 2^32'],
    ['plan-argc-huge', 'more argv strings than strings_len holds'],
    ['plan-sockets-no-slot', 'sockets, but the last env string is not the LISTEN_PID slot'],
    ['plan-sockets-short-slot', 'sockets, and a LISTEN_PID slot too short for a pid'],
    ['plan-sockets-too-many', 'more sockets than ND_PLAN_SOCKETS_MAX'],
  ])('%s: %s', (scenario) => {
    const o = drive(scenario)
    expect(o.records).toEqual([{ stage: STAGE_PLAN, syscall: 0, err: EPLAN, value: 0 }])
    expect(o.exit).toBe(256) // exit code 1
  })
})

describe('socket slots that hold no socket are refused at stage plan', () => {
  it.each([
    ['socket-slot-empty', 'nothing at fd 9', 9], // EBADF
    ['socket-slot-not-a-socket', '/dev/null at fd 9', 88], // ENOTSOCK
  ])('%s: %s', (scenario, _what, errno) => {
    const o = drive(scenario)
    expect(o.records).toEqual([{ stage: STAGE_PLAN, syscall: 0, err: errno, value: 0 }])
    expect(o.exit).toBe(256)
  })
})

describe('the start-up window reading the ready pipe', () => {
  it('a pipe that never runs dry does not hold the helper: the exit is seen', () => {
    // The daemon exits 3 at once; a child of it streams STATUS= lines into
    // its ready pipe forever (the helper kills it with the rest).
    const o = drive('ready-flood')
    expect(o.stuck).toBeUndefined()
    expect(o.records.at(-1)).toEqual({ stage: STAGE_READY, syscall: 0, err: EEXITED, value: 3 << 8 })
  })

  it('READY=1 counts only as a whole line (not NOTREADY=1, READY=10, READY=1x)', () => {
    const o = drive('ready-not-a-line')
    expect(o.records.at(-1)).toEqual({ stage: STAGE_READY, syscall: 0, err: ETIMEOUT, value: 2000 })
  })

  it('READY=1 as a line after others is readiness', () => {
    const o = drive('ready-line')
    expect(o.records.at(-1)).toMatchObject({ stage: STAGE_READY, err: 0 })
    expect(o.exit).toBe(0)
  })
})

describe('what the daemon leaves behind, without /proc', () => {
  // A private mount namespace with a tmpfs over /proc, in a pid namespace
  // (all of it ends with the fixture): needs root and unshare(1).
  const unshare = ['-fpm', 'sh', '-c', 'mount -t tmpfs none /proc && exec python3 "$0" "$@"']
  const canUnshare =
    process.getuid?.() === 0 && spawnSync('unshare', [...unshare.slice(0, 3), 'exit 0'], { timeout: 10_000 }).status === 0

  it.skipIf(!canUnshare)('the helper does not wait for an orphan it cannot list: it signals its group and leaves', () => {
    const r = spawnSync('unshare', [...unshare, join(fixtures, 'drive-helper.py'), helper, 'orphan-left'], {
      encoding: 'utf8',
      timeout: 25_000,
    })
    expect(r.status, r.stderr).toBe(0)
    const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l))
    expect(lines).not.toContainEqual({ stuck: true })
    expect(lines.at(-2)).toEqual({ stage: 19, syscall: 0, err: EEXITED, value: 3 << 8 }) // running
    expect(lines.at(-1)).toEqual({ exit: 256 })
  })
})
