// The supervision options, in-process: the CLI flags and the API's
// `respawn` object, their defaults, and every refusal (exit 2 on the
// command line, stage 'options' in the API). No daemon is started here.
import { describe, expect, it } from 'vitest'
import { UsageError } from '../../src/cli/args.js'
import { normalizeRespawnArgs, parseRespawnLimit } from '../../src/cli/respawn-args.js'
import { parseStartArgs } from '../../src/cli/start.js'
import { DaemonizeError } from '../../src/errors.js'
import { RESPAWN_DEFAULTS, resolveRespawn } from '../../src/options/respawn.js'

const base = ['app.js', '--pid-file', '/tmp/app.pid']

describe('--respawn on the command line', () => {
  it('is off unless asked for', () => {
    expect(parseStartArgs(base).options.respawn).toBeUndefined()
  })

  it('takes an optional mode: only the next word on-failure or always', () => {
    expect(parseStartArgs([...base, '--respawn']).options.respawn).toEqual({})
    expect(parseStartArgs([...base, '--respawn', 'always']).options.respawn).toEqual({ mode: 'always' })
    expect(parseStartArgs([...base, '--respawn=on-failure']).options.respawn).toEqual({ mode: 'on-failure' })
    expect(parseStartArgs(['--respawn', 'always', 'app.js', '--pid-file', 'p']).options).toMatchObject({ entry: 'app.js', respawn: { mode: 'always' } })
    // any other word is the entry
    expect(parseStartArgs(['--respawn', 'app.js', '--pid-file', 'p']).options).toMatchObject({ entry: 'app.js', respawn: {} })
    // after `--` it is the program's
    expect(parseStartArgs([...base, '--', '--respawn', 'always']).options).toMatchObject({ args: ['--respawn', 'always'] })
    expect(parseStartArgs([...base, '--', '--respawn', 'always']).options.respawn).toBeUndefined()
    expect(() => parseStartArgs([...base, '--respawn=sometimes'])).toThrow(UsageError)
  })

  it('rewrites token for token, so raw-byte lookups by index still line up', () => {
    const args = ['a.js', '--respawn', 'always', '--env', 'K=V', '--respawn=on-failure', '--', '--respawn', 'always']
    const out = normalizeRespawnArgs(args)
    expect(out).toHaveLength(args.length)
    expect(out).toEqual(['a.js', '--respawn', '--respawn-mode=always', '--env', 'K=V', '--respawn-mode=on-failure', '--', '--respawn', 'always'])
  })

  it('maps every flag', () => {
    const o = parseStartArgs([
      ...base, '--respawn', 'always', '--no-respawn-exit', '125', '--no-respawn-exit=3', '--respawn-delay', '50ms',
      '--respawn-max-delay', '400ms', '--respawn-limit', '20/60s', '--min-uptime', '500ms', '--stop-timeout', '2',
    ]).options.respawn
    expect(o).toEqual({ mode: 'always', noRespawnExit: [125, 3], delayMs: 50, maxDelayMs: 400, limit: 20, windowMs: 60_000, minUptimeMs: 500, stopTimeoutMs: 2000 })
  })

  it.each([
    [['--respawn'], /--respawn needs --pid-file/, false],
    [['--respawn-delay', '1s'], /--respawn-delay only applies with --respawn/, true],
    [['--stop-timeout', '1s'], /--stop-timeout only applies with --respawn/, true],
    [['--respawn', '--no-respawn-exit', '256'], /exit code from 0 to 255/, true],
    [['--respawn', '--no-respawn-exit', '-1'], /needs a value|exit code/, true],
    [['--respawn', '--respawn-limit', '5'], /N\/WINDOW/, true],
    [['--respawn', '--respawn-limit', '0/60s'], /N\/WINDOW/, true],
    [['--respawn', '--respawn-limit', '1001/60s'], /N\/WINDOW/, true],
    [['--respawn', '--respawn-limit', '5/0'], /longer than 0/, true],
    [['--respawn', '--respawn-limit', '5/soon'], /duration/, true],
    [['--respawn', '--respawn-delay', '2s', '--respawn-max-delay', '1s'], /must not exceed/, true],
    [['--respawn', '--min-uptime', 'x'], /duration/, true],
  ])('%j is a usage error', (extra, message, withPidFile) => {
    const args = withPidFile ? [...base, ...extra] : ['app.js', ...extra]
    expect(() => parseStartArgs(args)).toThrow(UsageError)
    expect(() => parseStartArgs(args)).toThrow(message)
  })

  it('parses N/WINDOW with a bare window in seconds', () => {
    expect(parseRespawnLimit('--respawn-limit', '5/60')).toEqual({ limit: 5, windowMs: 60_000 })
    expect(parseRespawnLimit('--respawn-limit', '10/2m')).toEqual({ limit: 10, windowMs: 120_000 })
  })
})

describe('the respawn option of the API', () => {
  it('has safe defaults', () => {
    expect(resolveRespawn(undefined)).toBeUndefined()
    expect(resolveRespawn(false)).toBeUndefined()
    expect(resolveRespawn(true)).toEqual({ ...RESPAWN_DEFAULTS, noRespawnExit: [] })
    expect(RESPAWN_DEFAULTS).toEqual({
      mode: 'on-failure', delayMs: 100, maxDelayMs: 30_000, limit: 5, windowMs: 60_000, minUptimeMs: 10_000, stopTimeoutMs: 10_000,
    })
    expect(resolveRespawn('always')?.mode).toBe('always')
    expect(resolveRespawn({ noRespawnExit: [125, 3, 125] })?.noRespawnExit).toEqual([3, 125])
    // a delay above the default cap raises the cap to it
    expect(resolveRespawn({ delayMs: 60_000 })).toMatchObject({ delayMs: 60_000, maxDelayMs: 60_000 })
  })

  it.each([
    ['sometimes'],
    [null],
    [5],
    [{ mode: 'never' }],
    [{ delayMs: -1 }],
    [{ delayMs: 1.5 }],
    [{ delayMs: 500, maxDelayMs: 100 }],
    [{ limit: 0 }],
    [{ limit: 1001 }],
    [{ windowMs: 0 }],
    [{ minUptimeMs: 2 ** 32 }],
    [{ noRespawnExit: 125 }],
    [{ noRespawnExit: [256] }],
    [{ stopTimeoutMs: '10s' }],
    [{ delay: 100 }],
  ])('refuses %j at stage options', (v) => {
    let err: unknown
    try {
      resolveRespawn(v)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(DaemonizeError)
    expect(err).toMatchObject({ stage: 'options' })
  })
})
