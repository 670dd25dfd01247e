// The CLI's value formats and the start command's option mapping, in-process
// (no daemon is started here; test/cli.test.ts runs the real command).
import { afterEach, describe, expect, it } from 'vitest'
import {
  formatUsageError,
  MAX_DURATION_MS,
  parseCommandLine,
  parseDuration,
  parseEnvPair,
  parsePositiveInt,
  parseUmask,
  UsageError,
  wantsHelp,
} from '../../src/cli/args.js'
import { DEFAULT_STARTUP_GRACE_MS, parseStartArgs, startOptions } from '../../src/cli/start.js'
import { SAFE_PATH } from '../../src/options/daemonize-options.js'

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['5', 5000],
    ['1.5', 1500],
    ['.25', 250],
    ['500ms', 500],
    ['0ms', 0],
    ['5s', 5000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['0.5m', 30_000],
    [' 3s ', 3000],
    ['1.', 1000],
  ])('%j is %d ms', (text, ms) => {
    expect(parseDuration('--wait-ready', text)).toBe(ms)
  })

  it('rounds a fraction of a millisecond above 1 ms up, computed exactly from the decimal text', () => {
    expect(parseDuration('--wait-ready', '1.2ms')).toBe(2)
    expect(parseDuration('--wait-ready', '1ms')).toBe(1)
    expect(parseDuration('--wait-ready', '0.001')).toBe(1)
    // 2.007 * 1000 is 2007.0000000000002 in floating point, which rounds up to 2008.
    expect(parseDuration('--wait-ready', '2.007')).toBe(2007)
    expect(parseDuration('--wait-ready', '0.27m')).toBe(16_200)
    expect(parseDuration('--wait-ready', '2.0070000001')).toBe(2008)
  })

  // Hardening round 2, defect 10: a positive duration under 1 ms was rounded up to 1 ms; the helper and the supervisor keep whole ms.
  it.each(['0.0001s', '0.0001', '0.5ms', '.9ms', '0.000001m', '0.0009999'])('refuses %j, a positive duration under 1 ms, with a usage error', (text) => {
    expect(() => parseDuration('--respawn-delay', text)).toThrow(UsageError)
    expect(() => parseDuration('--respawn-delay', text)).toThrow(/^--respawn-delay must be 0 or at least 1 ms, got '/)
  })

  it.each(['', ' ', 'soon', '5x', '5 s', '-1', '-1s', '1e3', '0x10', 's', 'ms', '1h', '5sec', '1..5', 'NaN', 'Infinity', '5S'])(
    'rejects %j with a usage error naming the flag and the value',
    (text) => {
      expect(() => parseDuration('--startup-grace', text)).toThrow(UsageError)
      expect(() => parseDuration('--startup-grace', text)).toThrow(`--startup-grace takes a duration`)
    },
  )

  it('rejects a duration longer than the helper can count', () => {
    expect(parseDuration('--wait-ready', `${MAX_DURATION_MS}ms`)).toBe(MAX_DURATION_MS)
    expect(() => parseDuration('--wait-ready', `${MAX_DURATION_MS + 1}ms`)).toThrow(/too long/)
    expect(() => parseDuration('--wait-ready', '100000m')).toThrow(UsageError)
  })
})

describe('parseUmask', () => {
  it.each([
    ['027', 0o27],
    ['0027', 0o27],
    ['22', 0o22],
    ['0', 0],
    ['777', 0o777],
    ['0o077', 0o77],
  ])('%j is octal %o', (text, mode) => {
    expect(parseUmask('--umask', text)).toBe(mode)
  })

  it.each(['', '8', '028', '1000', '0777x', 'u=rwx', '-022', '0x1f', '00000'])('rejects %j', (text) => {
    expect(() => parseUmask('--umask', text)).toThrow(UsageError)
  })
})

describe('parsePositiveInt', () => {
  it('accepts whole numbers >= 1', () => {
    expect(parsePositiveInt('--max-open-files', '4096')).toBe(4096)
    expect(parsePositiveInt('--max-open-files', '1')).toBe(1)
  })
  it.each(['0', '-5', '1.5', 'many', '', '1e3', '99999999999999999999'])('rejects %j', (text) => {
    expect(() => parsePositiveInt('--max-open-files', text)).toThrow(UsageError)
  })
})

describe('parseEnvPair', () => {
  it('splits at the first =, keeping the rest of the value verbatim', () => {
    expect(parseEnvPair('--env', 'A=1')).toEqual(['A', '1'])
    expect(parseEnvPair('--env', 'URL=a=b=c')).toEqual(['URL', 'a=b=c'])
    expect(parseEnvPair('--env', 'EMPTY=')).toEqual(['EMPTY', ''])
    expect(parseEnvPair('--env', 'S= spaced $HOME ')).toEqual(['S', ' spaced $HOME '])
  })
  it.each(['NOEQUALS', '=value', '', 'A=\0'])('rejects %j', (text) => {
    expect(() => parseEnvPair('--env', text)).toThrow(UsageError)
  })
})

describe('parseCommandLine', () => {
  const opts = { 'log-file': { type: 'string' }, 'exec-arg': { type: 'string', multiple: true }, quiet: { type: 'boolean', short: 'q' } } as const

  it('keeps everything after the first -- apart and verbatim, including more -- and options', () => {
    const r = parseCommandLine(['app.js', '--log-file', 'l', '--', '--log-file', '--', '-q', ''], opts)
    expect(r.positionals).toEqual(['app.js'])
    expect(r.values).toEqual({ 'log-file': 'l' })
    expect(r.rest).toEqual(['--log-file', '--', '-q', ''])
  })

  it.each([
    [['--bogus'], "unknown option '--bogus' (arguments for the program go after '--')"],
    [['-x'], "unknown option '-x'"],
    [['--log-file'], "option '--log-file' needs a value"],
    [['--exec-arg', '--inspect'], "option '--exec-arg' needs a value; to give one that starts with '-', write --exec-arg=-VALUE"],
    [['--quiet=yes'], "option '--quiet' does not take a value"],
  ])('turns parseArgs errors into one-line usage errors: %j', (args, message) => {
    let err: unknown
    try {
      parseCommandLine(args, opts)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(UsageError)
    expect((err as Error).message).toContain(message)
    expect((err as Error).message).not.toContain('\n')
  })

  it('takes option values that start with - in the --flag=value form', () => {
    expect(parseCommandLine(['--exec-arg=--enable-source-maps', '--exec-arg=--max-old-space-size=64'], opts).values).toEqual({
      'exec-arg': ['--enable-source-maps', '--max-old-space-size=64'],
    })
  })
})

describe('wantsHelp and formatUsageError', () => {
  it('sees --help and -h only before --', () => {
    expect(wantsHelp(['x.js', '--help'])).toBe(true)
    expect(wantsHelp(['-h'])).toBe(true)
    expect(wantsHelp(['x.js', '--', '--help'])).toBe(false)
    expect(wantsHelp(['x.js', '--helpful'])).toBe(false)
  })
  it('is what is wrong, then a hint to --help', () => {
    expect(formatUsageError('start', 'missing <entry>')).toBe(
      "node-daemonize start: missing <entry>\nTry 'node-daemonize start --help' for more information.\n",
    )
    expect(formatUsageError(undefined, 'unknown command')).toMatch(/^node-daemonize: unknown command\nTry 'node-daemonize --help'/)
  })
})

describe('start options -> daemonize() options', () => {
  const saved = { ...process.env }
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
    Object.assign(process.env, saved)
  })

  it('has a kebab-case flag for every API option', () => {
    const flags = Object.keys(startOptions)
    for (const f of [
      'log-file',
      'pid-file',
      'cwd',
      'umask',
      'env',
      'clear-env',
      'exec-arg',
      'exec-path',
      'wait-ready',
      'startup-grace',
      'keep-on-timeout',
      'no-preload',
      'user',
      'group',
      'core-dumps',
      'max-open-files',
    ]) {
      expect(flags).toContain(f)
    }
  })

  it('defaults: entry and args only, a 1 s start-up grace, no env given (the caller\'s is used)', () => {
    delete process.env.NOTIFY_SOCKET
    const r = parseStartArgs(['app.js'])
    expect(r.options).toEqual({ entry: 'app.js', args: [], startupGraceMs: DEFAULT_STARTUP_GRACE_MS })
    expect(DEFAULT_STARTUP_GRACE_MS).toBe(1000)
    expect(r).toMatchObject({ entryArg: 'app.js', okIfRunning: false, json: false, quiet: false })
  })

  it('maps every flag', () => {
    delete process.env.NOTIFY_SOCKET
    const r = parseStartArgs([
      'app.js',
      '--log-file', 'a.log',
      '--pid-file', 'a.pid',
      '--cwd', '/tmp',
      '--umask', '027',
      '--exec-arg=--enable-source-maps',
      '--exec-arg=--max-old-space-size=64',
      '--exec-path', '/usr/bin/node',
      '--wait-ready', '5s',
      '--startup-grace', '250ms',
      '--keep-on-timeout',
      '--no-preload',
      '--user', 'nobody',
      '--group', '65534',
      '--core-dumps',
      '--max-open-files', '4096',
      '--ok-if-running',
      '--json',
      '-q',
      '--', 'a', '--b',
    ]) // prettier-ignore
    expect(r.options).toEqual({
      entry: 'app.js',
      args: ['a', '--b'],
      logFile: 'a.log',
      pidFile: 'a.pid',
      cwd: '/tmp',
      umask: 0o27,
      execArgv: ['--enable-source-maps', '--max-old-space-size=64'],
      execPath: '/usr/bin/node',
      waitReadyMs: 5000,
      startupGraceMs: 250,
      keepOnTimeout: true,
      preload: false,
      user: 'nobody',
      group: '65534',
      coreDumps: true,
      maxOpenFiles: 4096,
    })
    expect(r).toMatchObject({ okIfRunning: true, json: true, quiet: true })
  })

  it('--env adds to the caller\'s environment; later pairs win', () => {
    process.env.ND_TEST_KEEP = 'kept'
    const { options } = parseStartArgs(['app.js', '--env', 'A=1', '--env', 'B=x=y', '--env', 'A=2'])
    expect(options.clearEnv).toBeUndefined()
    expect(options.env).toEqual({ ...process.env, A: '2', B: 'x=y' })
    expect(options.env?.ND_TEST_KEEP).toBe('kept')
  })

  it('--env under --user leaves out the caller\'s HOME/USER/LOGNAME (the target user\'s are set), unless given', () => {
    process.env.HOME = '/root-home'
    process.env.USER = 'caller'
    const { options } = parseStartArgs(['app.js', '--user', 'nobody', '--env', 'A=1', '--env', 'LOGNAME=svc'])
    expect(options.env?.HOME).toBeUndefined()
    expect(options.env?.USER).toBeUndefined()
    expect(options.env?.LOGNAME).toBe('svc')
    expect(options.env?.A).toBe('1')
  })

  it('--clear-env starts from the API\'s empty environment (PATH only), and --env adds to it', () => {
    const { options } = parseStartArgs(['app.js', '--clear-env', '--env', 'A=1'])
    expect(options.clearEnv).toBe(true)
    expect(options.env).toEqual({ A: '1' })
    expect(SAFE_PATH).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
  })

  it('under systemd (NOTIFY_SOCKET set) asks daemonize() to notify it', () => {
    process.env.NOTIFY_SOCKET = '/run/systemd/notify'
    expect(parseStartArgs(['app.js']).options.notifySystemd).toBe(true)
    delete process.env.NOTIFY_SOCKET
    expect(parseStartArgs(['app.js']).options.notifySystemd).toBeUndefined()
  })

  it.each([
    [[], /missing <entry>/],
    [[''], /<entry> must not be empty/],
    [['a.js', 'b.js'], /unexpected argument 'b.js' \(arguments for the program go after '--'\)/],
    [['a.js', '--log-file', ''], /--log-file must not be empty/],
    [['a.js', '--umask', '999'], /--umask takes an octal mode/],
    [['a.js', '--wait-ready', 'later'], /--wait-ready takes a duration/],
    [['a.js', '--startup-grace=-1'], /--startup-grace takes a duration/],
    [['a.js', '--max-open-files', '0'], /--max-open-files takes a positive whole number/],
    [['a.js', '--max-open-files', '15'], /--max-open-files must be at least 16, got 15/],
    [['a.js', '--env', 'NOPE'], /--env takes NAME=VALUE/],
    [['a.js', '--keep-on-timeout'], /--keep-on-timeout only applies with --wait-ready/],
    [['a.js', '--pid-file'], /option '--pid-file' needs a value/],
    [['a.js', '--port', '80'], /unknown option '--port'/],
  ])('usage error for %j', (args, message) => {
    expect(() => parseStartArgs(args)).toThrow(UsageError)
    expect(() => parseStartArgs(args)).toThrow(message)
  })
})
