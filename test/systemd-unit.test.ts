// `node-daemonize unit`: every generated unit passes systemd-analyze verify
// with no warning, for a matrix of start options with hostile values; each
// value is read back twice (by an independent parser of systemd's syntax,
// and from systemd-analyze's own dump of the unit) and compared with the
// options; ready() notifies systemd when the unit's ExecStart= runs;
// values systemd cannot carry are refused; --install never overwrites.
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { CONTRACT_VERSION } from '../src/daemon/contract.cjs'
import { preloadPath } from '../src/options/resolve.js'
import { SAFE_PATH } from '../src/options/daemonize-options.js'
import { buildUnits } from '../src/systemd/units.js'
import { fixtures } from './helpers/caller.js'
import { cliBin, runCli } from './helpers/cli.js'
import { untilLine } from './helpers/files.js'
import { cleanUpDaemons } from './helpers/daemons.js'
import { startNamed, useNamesRoot } from './helpers/names.js'
import { cleanUpReceivers, receivedBefore, receiver } from './helpers/notify.js'
import { dumped, dumpedArgv, dumpedCommand, execArgv, parseEnvFile, parseUnit, specifiers, type Unit, value, values, verify, words } from './helpers/systemd-unit.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()
cleanUpReceivers()

let dir: string
beforeEach(() => {
  dir = scratchDir('nd-unit-')
})

beforeAll(() => {
  // Debian's systemd package brings it (.ci/run installs it when missing).
  const r = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error('systemd-analyze is missing: apt-get install systemd')
})

/** Arguments and values that each break a naive quoting. */
const HOSTILE = [
  '100%',
  '%n',
  '%%',
  '$HOME',
  '${PATH}',
  '$$',
  'a "quoted" word',
  "it's",
  'back\\slash',
  'trailing\\',
  '\\x41\\n',
  'semi;colon',
  ';',
  'new\nline',
  '\nExecStartPre=/bin/false',
  'cr\rx',
  'tab\tx',
  ' spaced ',
  '',
  'é ünï € 😀',
  '#hash',
  '[Service]',
  '`cmd`',
  '--',
]

const HOSTILE_ENV: Record<string, string> = {
  PCT: 'a%b%%c',
  DOLLAR: '$HOME ${PATH} $$',
  QUOTES: `"double" 'single'`,
  BACKSLASH: 'a\\b\\',
  NEWLINES: 'l1\nl2\nExecStart=/bin/false\n[Service]',
  SPACES: '  lead and trail  ',
  SEMI: 'a;b; ;',
  BACKTICK: '`id`',
  CRLF: 'x\r\ny',
  EMPTY: '',
  HASH: '#not a comment',
  UNICODE: 'é € 😀',
}

interface Case {
  name: string
  /** The command line after `unit`, given the case's directory. */
  args: (d: string) => string[]
  /** What the unit must say, given the directory. */
  expect: (d: string) => Expected
}

interface Expected {
  unitName: string
  argv: string[]
  type: 'exec' | 'notify'
  cwd: string
  umask: string
  env: Record<string, string>
  /** Environment= assignments in the unit itself. */
  unitEnv: Record<string, string>
  log?: string
  user?: string
  group?: string
  nofile?: number
  core: '0' | 'infinity'
  restart: 'no' | 'on-failure' | 'always'
  restartSec?: number
  prevent?: string
  startLimit?: [number, number]
  stopMs: number
  startMs?: number
  notes: RegExp[]
  /** `dumped`: how systemd shows each ListenStream= (a bare port is every address). */
  sockets?: { name: string; listen: string[]; dumped?: string[]; fdName: string; owner?: [string, string | undefined] }[]
}

const entryName = 'my app %i $x.js'

function entryIn(d: string): string {
  const p = join(d, entryName)
  writeFileSync(p, 'setInterval(() => {}, 1000)\n')
  return p
}

const CASES: Case[] = [
  {
    name: 'the defaults',
    args: (d) => [join(d, 'app.js')],
    expect: (d) => ({
      unitName: 'app',
      argv: [process.execPath, '--require', preloadPath, join(d, 'app.js')],
      type: 'exec',
      cwd: '/',
      umask: '0022',
      env: {},
      unitEnv: {},
      core: '0',
      restart: 'no',
      stopMs: 10_000,
      notes: [/--startup-grace 1s: systemd has no start-up grace/, /no --log-file/, /not copied/],
    }),
  },
  {
    name: 'every option, hostile values',
    args: (d) => {
      const cwd = join(d, 'work dir %h $x')
      mkdirSync(cwd)
      return [
        entryIn(d),
        '--log-file',
        join(d, 'log dir %t', 'app $x.log'),
        '--pid-file',
        join(d, 'app\n%$.pid'),
        '--cwd',
        cwd,
        '--umask',
        '027',
        ...Object.entries(HOSTILE_ENV).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
        '--exec-arg=--enable-source-maps',
        '--exec-arg=--title=a b%$"',
        '--user',
        'daemon',
        '--group',
        'daemon',
        '--max-open-files',
        '4096',
        '--core-dumps',
        '--wait-ready',
        '7s',
        '--keep-on-timeout',
        '--respawn',
        'always',
        '--no-respawn-exit',
        '4',
        '--no-respawn-exit',
        '3',
        '--respawn-delay',
        '250ms',
        '--respawn-max-delay',
        '4s',
        '--respawn-limit',
        '7/2m',
        '--min-uptime',
        '3s',
        '--stop-timeout',
        '15s',
        '--ok-if-running',
        '--unit-name',
        'my-app',
        '--',
        ...HOSTILE,
      ]
    },
    expect: (d) => {
      const log = join(d, 'log dir %t', 'app $x.log')
      return {
        unitName: 'my-app',
        argv: [
          process.execPath,
          '--require',
          preloadPath,
          '--enable-source-maps',
          '--title=a b%$"',
          join(d, entryName),
          ...HOSTILE,
        ],
        type: 'notify',
        cwd: join(d, 'work dir %h $x'),
        umask: '0027',
        env: HOSTILE_ENV,
        unitEnv: { NODE_DAEMONIZE_LOG_FILE: log, NODE_DAEMONIZE_CONTRACT: CONTRACT_VERSION },
        log,
        user: 'daemon',
        group: 'daemon',
        nofile: 4096,
        core: 'infinity',
        restart: 'always',
        restartSec: 250,
        prevent: '3 4',
        startLimit: [7, 120_000],
        stopMs: 15_000,
        startMs: 7000,
        notes: [
          /--keep-on-timeout: systemd has no such setting/,
          /^--pid-file ".*app\\n%\$\.pid": not written/,
          /--ok-if-running/,
          /--min-uptime 3s: systemd has no such setting/,
          /--respawn-limit 7\/2min: systemd counts starts/,
          /RestartSteps=\/RestartMaxDelaySec= need systemd 254/,
          /--log-file: systemd opens the file/,
          /--core-dumps/,
        ],
      }
    },
  },
  {
    name: '--clear-env, --respawn on-failure, --no-preload, --exec-path',
    args: (d) => [
      join(d, 'plain.js'),
      '--clear-env',
      '--env',
      'ONLY=1',
      '--no-preload',
      '--exec-path',
      process.execPath,
      '--startup-grace',
      '2s',
      '--pid-file',
      join(d, 'p.pid'),
      '--respawn',
      '--log-file',
      join(d, 'l.log'),
    ],
    expect: (d) => ({
      unitName: 'plain',
      argv: [process.execPath, join(d, 'plain.js')],
      type: 'exec',
      cwd: '/',
      umask: '0022',
      env: { ONLY: '1' },
      unitEnv: { PATH: SAFE_PATH, NODE_DAEMONIZE_LOG_FILE: join(d, 'l.log'), NODE_DAEMONIZE_CONTRACT: CONTRACT_VERSION },
      log: join(d, 'l.log'),
      core: '0',
      restart: 'on-failure',
      restartSec: 100,
      startLimit: [5, 60_000],
      stopMs: 10_000,
      notes: [/--clear-env/, /--startup-grace 2s/, /--no-preload: no ExecReload=/, /RestartForceExitStatus=/],
    }),
  },
  {
    name: '--listen: a .socket unit per name, unix sockets owned as the launcher makes them',
    args: (d) => [
      join(d, 'web.js'),
      '--listen',
      'tcp:8080',
      '--listen',
      'tcp:[::1]:8081,name=web',
      '--listen',
      `unix:${join(d, 'sock %p $x')},name=web`,
      '--listen',
      'tcp:127.0.0.1:9000,name=admin/1%',
      '--umask',
      '027',
      '--user',
      'daemon',
    ],
    expect: (d) => ({
      unitName: 'web',
      argv: [process.execPath, '--require', preloadPath, join(d, 'web.js')],
      type: 'exec',
      cwd: '/',
      umask: '0027',
      env: {},
      unitEnv: {},
      user: 'daemon',
      core: '0',
      restart: 'no',
      stopMs: 10_000,
      notes: [/one \.socket unit per name/],
      sockets: [
        // Unnamed: "unknown", the name the launcher gives it in LISTEN_FDNAMES.
        { name: 'web.socket', listen: ['8080'], dumped: ['[::]:8080'], fdName: 'unknown' },
        { name: 'web-web.socket', listen: ['[::1]:8081', join(d, 'sock %p $x')], fdName: 'web', owner: ['0640', 'daemon'] },
        { name: 'web-admin\\x2f1\\x25.socket', listen: ['127.0.0.1:9000'], fdName: 'admin/1%' },
      ],
    }),
  },
]

/** A systemd time span in ms (the units this generator writes). */
function spanMs(text: string): number {
  const m = /^(\d+)(ms|s|min)?$/.exec(text)
  if (!m) throw new Error(`not a time span: ${text}`)
  return Number(m[1]) * { ms: 1, s: 1000, min: 60_000 }[m[2] ?? 's']!
}

/** systemd's dump writes spans like "1min 30s", "250ms", "7s". */
function dumpSpanMs(text: string): number {
  let ms = 0
  for (const part of text.split(' ')) {
    const m = /^(\d+)(ms|s|min|h)$/.exec(part)
    if (!m) throw new Error(`not a dumped span: ${text}`)
    ms += Number(m[1]) * { ms: 1, s: 1000, min: 60_000, h: 3_600_000 }[m[2]]!
  }
  return ms
}

/** Environment= assignments of a unit, unquoted. */
function unitEnvironment(unit: Unit): Record<string, string> {
  const env: Record<string, string> = {}
  for (const raw of values(unit, 'Service', 'Environment')) {
    for (const w of words(specifiers(raw))) {
      const eq = w.indexOf('=')
      env[w.slice(0, eq)] = w.slice(eq + 1)
    }
  }
  return env
}

describe('unit: verified by systemd-analyze, read back value by value', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const args = c.args(dir)
      for (const a of args.slice(0, 1)) if (!existsSync(a)) writeFileSync(a, 'setInterval(() => {}, 1000)\n')
      // EnvironmentFile= names a path in it: a hostile one too.
      const units = join(dir, 'unit dir %i $x')
      mkdirSync(units)
      const r = await runCli(['unit', '--install', '--unit-dir', units, ...args])
      expect(r.err).toBe('')
      expect(r.code).toBe(0)
      const want = c.expect(dir)
      const service = `${want.unitName}.service`
      const socketNames = (want.sockets ?? []).map((s) => s.name)
      const envFile = Object.keys(want.env).length > 0 ? `${want.unitName}.env` : undefined
      expect(readdirSync(units).sort()).toEqual([service, ...socketNames, ...(envFile ? [envFile] : [])].sort())
      // The printed command, as a shell reads it, names every unit.
      const enable = r.out.split('\n').find((l) => l.startsWith('systemctl enable --now '))!
      const shell = spawnSync('bash', ['-c', `printf '%s\\n' ${enable.slice('systemctl enable --now '.length)}`], { encoding: 'utf8' })
      expect(shell.stdout.split('\n').slice(0, -1)).toEqual([...socketNames, service])
      for (const f of [service, ...socketNames]) expect(statSync(join(units, f)).mode & 0o777).toBe(0o644)

      // systemd's verdict: no warning at all about these units.
      const v = verify([service, ...socketNames].map((f) => join(units, f)))
      const ours = v.stderr.split('\n').filter((l) => l.includes(dir) || [service, ...socketNames].some((n) => l.includes(n)))
      expect(ours).toEqual([])
      expect(v.status).toBe(0)

      const text = readFileSync(join(units, service), 'utf8')
      const unit = parseUnit(text)
      const svc = (k: string) => value(unit, 'Service', k)
      const sd = (k: string) => dumped(v, service, k)

      // The command line, as an independent reading of the file and as systemd read it.
      expect(execArgv(svc('ExecStart')!)).toEqual(want.argv)
      // The dump shows the words before exec-time expansion: "$$" still doubled.
      expect(dumpedArgv(dumpedCommand(v, service, 'ExecStart')).map((w) => w.replaceAll('$$', '$'))).toEqual(want.argv)

      expect(svc('Type')).toBe(want.type)
      expect(sd('Type')).toEqual([want.type])
      expect(specifiers(svc('WorkingDirectory')!)).toBe(want.cwd)
      expect(sd('WorkingDirectory')).toEqual([want.cwd])
      expect(svc('UMask')).toBe(want.umask)
      expect(sd('UMask')).toEqual([want.umask])
      expect(svc('User')).toBe(want.user)
      expect(svc('Group')).toBe(want.group)
      if (want.user !== undefined) expect(sd('User')).toEqual([want.user])
      if (want.group !== undefined) expect(sd('Group')).toEqual([want.group])
      expect(svc('LimitNOFILE')).toBe(want.nofile === undefined ? undefined : String(want.nofile))
      if (want.nofile !== undefined) expect(sd('LimitNOFILE')).toEqual([String(want.nofile)])
      expect(svc('LimitCORE')).toBe(want.core)
      // RLIM_INFINITY, as the dump shows it.
      expect(sd('LimitCORE')).toEqual([want.core === 'infinity' ? '18446744073709551615' : want.core])

      // stdout and stderr.
      if (want.log === undefined) {
        expect([svc('StandardOutput'), svc('StandardError')]).toEqual(['null', 'null'])
        expect(sd('StandardOutput')).toEqual(['null'])
      } else {
        expect(specifiers(svc('StandardOutput')!)).toBe(`append:${want.log}`)
        expect(specifiers(svc('StandardError')!)).toBe(`append:${want.log}`)
        expect(sd('StandardOutputFileToAppend')).toEqual([want.log])
        expect(sd('StandardErrorFileToAppend')).toEqual([want.log])
      }
      expect(unitEnvironment(unit)).toEqual(want.unitEnv)

      // The environment file: 0600, read back exactly; its values appear nowhere in the unit.
      if (envFile) {
        const path = join(units, envFile)
        expect(statSync(path).mode & 0o777).toBe(0o600)
        expect(specifiers(svc('EnvironmentFile')!)).toBe(path)
        expect(sd('EnvironmentFile')[0]).toContain(path)
        expect(parseEnvFile(readFileSync(path, 'utf8'))).toEqual(want.env)
        for (const val of Object.values(want.env)) if (val.length > 3) expect(text).not.toContain(val)
      } else {
        expect(svc('EnvironmentFile')).toBeUndefined()
      }

      // Restart policy.
      expect(svc('Restart')).toBe(want.restart)
      expect(sd('Restart')).toEqual([want.restart])
      if (want.restartSec !== undefined) {
        expect(spanMs(svc('RestartSec')!)).toBe(want.restartSec)
        expect(dumpSpanMs(sd('RestartSec')[0])).toBe(want.restartSec)
      }
      expect(svc('RestartPreventExitStatus')).toBe(want.prevent)
      expect(svc('RestartForceExitStatus')).toBe(want.restart === 'on-failure' ? 'SIGHUP SIGINT SIGTERM SIGPIPE' : undefined)
      if (want.startLimit) {
        expect(Number(value(unit, 'Unit', 'StartLimitBurst'))).toBe(want.startLimit[0])
        expect(spanMs(value(unit, 'Unit', 'StartLimitIntervalSec')!)).toBe(want.startLimit[1])
      } else {
        expect(value(unit, 'Unit', 'StartLimitBurst')).toBeUndefined()
      }
      expect(spanMs(svc('TimeoutStopSec')!)).toBe(want.stopMs)
      expect(dumpSpanMs(sd('TimeoutStopSec')[0])).toBe(want.stopMs)
      if (want.startMs !== undefined) {
        expect(spanMs(svc('TimeoutStartSec')!)).toBe(want.startMs)
        expect(dumpSpanMs(sd('TimeoutStartSec')[0])).toBe(want.startMs)
      }
      expect(svc('ExecReload')).toEqual(want.log !== undefined && want.argv.includes(preloadPath) ? expect.stringMatching(/^\/(usr\/)?bin\/kill -HUP \$MAINPID$/) : undefined)
      for (const n of want.notes) expect(unit.comments.some((l) => n.test(l)), `a comment matching ${n}`).toBe(true)

      // Sockets.
      for (const s of want.sockets ?? []) {
        const su = parseUnit(readFileSync(join(units, s.name), 'utf8'))
        expect(values(su, 'Socket', 'ListenStream').map(specifiers)).toEqual(s.listen)
        expect(dumped(v, s.name, 'ListenStream')).toEqual(s.dumped ?? s.listen)
        expect(specifiers(value(su, 'Socket', 'FileDescriptorName')!)).toBe(s.fdName)
        expect(dumped(v, s.name, 'FileDescriptorName')).toEqual([s.fdName])
        expect(value(su, 'Socket', 'SocketMode')).toBe(s.owner?.[0])
        expect(value(su, 'Socket', 'SocketUser')).toBe(s.owner?.[1])
        if (s.owner) expect(dumped(v, s.name, 'SocketMode')).toEqual([s.owner[0]])
        expect(value(su, 'Socket', 'Service')).toBe(service)
      }
      if (want.sockets) expect(value(unit, 'Unit', 'Requires')).toBe(socketNames.join(' '))
    })
  }
})

describe('unit: the restart delay and the systemd version', () => {
  const respawn = (d: string) => [join(d, 'app.js'), '--pid-file', join(d, 'a.pid'), '--respawn', '--respawn-delay', '100ms', '--respawn-max-delay', '30s']

  it('254 or later: RestartSteps= and RestartMaxDelaySec= reach the cap by doubling', async () => {
    writeFileSync(join(dir, 'app.js'), '')
    const r = await runCli(['unit', ...respawn(dir), '--systemd-version', '254'])
    expect(r.code).toBe(0)
    const unit = parseUnit(r.out)
    const steps = Number(value(unit, 'Service', 'RestartSteps'))
    expect(spanMs(value(unit, 'Service', 'RestartMaxDelaySec')!)).toBe(30_000)
    // 100 ms × 2^steps is the first doubling at or past 30 s.
    expect(100 * 2 ** steps).toBeGreaterThanOrEqual(30_000)
    expect(100 * 2 ** (steps - 1)).toBeLessThan(30_000)
  })

  it('252 (Debian 12): both in a comment, said why', async () => {
    writeFileSync(join(dir, 'app.js'), '')
    const r = await runCli(['unit', ...respawn(dir), '--systemd-version', '252'])
    expect(r.code).toBe(0)
    const unit = parseUnit(r.out)
    expect(value(unit, 'Service', 'RestartSteps')).toBeUndefined()
    expect(unit.comments).toContain('RestartSteps=9')
    expect(unit.comments.some((l) => /need systemd 254 or later and this is systemd 252/.test(l))).toBe(true)
  })

  it("without --systemd-version: this machine's version, from systemctl --version", async () => {
    writeFileSync(join(dir, 'app.js'), '')
    const version = Number(/^systemd (\d+)/.exec(spawnSync('systemctl', ['--version'], { encoding: 'utf8' }).stdout)![1])
    const r = await runCli(['unit', ...respawn(dir)])
    expect(r.code).toBe(0)
    const unit = parseUnit(r.out)
    if (version >= 254) expect(value(unit, 'Service', 'RestartSteps')).toBe('9')
    else expect(unit.comments.some((l) => l.includes(`this is systemd ${version}`))).toBe(true)
  })
})

describe('unit: the command', () => {
  it('--help prints its usage, exit 0', async () => {
    const r = await runCli(['unit', '--help'])
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^Usage: node-daemonize unit NAME/)
    expect(r.out).toContain('--systemd-version N')
    expect(r.out).toContain('--respawn [MODE]')
  })

  it('--respawn needs no --pid-file: systemd supervises', async () => {
    writeFileSync(join(dir, 'app.js'), '')
    const r = await runCli(['unit', join(dir, 'app.js'), '--respawn', 'always', '--json'])
    expect(r.code).toBe(0)
    const files = (JSON.parse(r.out) as { files: { text: string }[] }).files
    expect(value(parseUnit(files[0].text), 'Service', 'Restart')).toBe('always')
  })
})

describe('unit: ready() under the unit notifies systemd', () => {
  it("the unit's ExecStart= and environment, run with NOTIFY_SOCKET, send READY=1 from the main process", async () => {
    const entry = join(fixtures, 'daemon-direct-ready.js')
    const r = await runCli(['unit', entry, '--wait-ready', '5s', '--log-file', join(dir, 'd.log'), '--env', 'X=1', '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.out) as { files: { path: string; text: string }[] }
    const unit = parseUnit(out.files[0].text)
    expect(value(unit, 'Service', 'Type')).toBe('notify')
    const argv = execArgv(value(unit, 'Service', 'ExecStart')!)
    const sock = await receiver(join(dir, 'notify.sock'))
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...unitEnvironment(unit), ...parseEnvFile(out.files[1].text), NOTIFY_SOCKET: sock.name }
    const run = await new Promise<{ status: number | null; stdout: string }>((resolve) => {
      const c = spawn(argv[0], argv.slice(1), { env, cwd: value(unit, 'Service', 'WorkingDirectory'), stdio: ['ignore', 'pipe', 'inherit'] })
      let stdout = ''
      c.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
      c.on('close', (status) => resolve({ status, stdout }))
    })
    expect(run.status).toBe(0)
    const report = JSON.parse(run.stdout) as { pid: number; first: boolean; second: boolean }
    expect(report).toMatchObject({ first: true, second: false })
    expect(await receivedBefore(sock)).toEqual([{ msg: 'READY=1\n', pid: report.pid }])
  })
})

describe('unit: ExecReload= reopens the log', () => {
  it("the unit's program, its output appended as systemd does, reopens a renamed log when ExecReload= runs", async () => {
    const log = join(dir, 'app log %.log')
    const r = await runCli(['unit', join(fixtures, 'lifecycle-hup.js'), '--log-file', log, '--json'])
    expect(r.code).toBe(0)
    const unit = parseUnit((JSON.parse(r.out) as { files: { text: string }[] }).files[0].text)
    const argv = execArgv(value(unit, 'Service', 'ExecStart')!)
    // StandardOutput=append:/StandardError=append: — the same file, opened for appending.
    const out = openSync(log, 'a')
    const child = spawn(argv[0], argv.slice(1), { env: { PATH: process.env.PATH, ...unitEnvironment(unit) }, stdio: ['ignore', out, out] })
    closeSync(out)
    const closed = new Promise((resolve) => child.on('close', resolve))
    try {
      await untilLine(log, `pid ${child.pid}: up`)
      renameSync(log, `${log}.1`)
      // ExecReload= as systemd runs it: $MAINPID is the main process.
      const reload = words(specifiers(value(unit, 'Service', 'ExecReload')!)).map((w) => (w === '$MAINPID' ? String(child.pid) : w))
      expect(spawnSync(reload[0], reload.slice(1)).status).toBe(0)
      await untilLine(log, `pid ${child.pid}: got SIGHUP 1`)
      expect(readFileSync(`${log}.1`, 'utf8')).not.toContain('got SIGHUP')
    } finally {
      child.kill('SIGKILL')
      await closed
    }
  })
})

describe('unit: what systemd cannot carry is refused', () => {
  /** printf(1) octal escapes for bytes. */
  const octal = (b: Buffer) => [...b].map((x) => `\\${x.toString(8).padStart(3, '0')}`).join('')

  // A value the unit cannot carry is refused by the options check (stage options): a usage error, exit 2.
  it('a program argument that is not UTF-8 (exit 2, a clear error, nothing printed)', () => {
    writeFileSync(join(dir, 'app.js'), '')
    const bad = Buffer.from([0x61, 0xe9, 0x62]) // Latin-1 "aéb"
    const r = spawnSync('bash', ['-c', `exec "$NODE" "$BIN" unit "$ENTRY" -- ok "$(printf '${octal(bad)}')"`], {
      env: { ...process.env, NODE: process.execPath, BIN: cliBin, ENTRY: join(dir, 'app.js') },
      encoding: 'utf8',
      timeout: 30_000,
    })
    expect(r.status).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(
      'node-daemonize unit: argument 2 is not UTF-8 ("a\\xe9b"): systemd reads unit and environment files as UTF-8 and cannot carry it\n' +
        "Try 'node-daemonize unit --help' for more information.\n",
    )
  })

  it('the same through the API, for an argument and an environment value; environment names', () => {
    const entry = join(dir, 'app.js')
    writeFileSync(entry, '')
    const base = { options: { entry }, unitDir: dir }
    expect(() => buildUnits({ ...base, options: { entry, args: [Buffer.from([0xff])] } })).toThrow(/argument 1 is not UTF-8 \("\\xff"\)/)
    expect(() => buildUnits({ ...base, options: { entry, env: { V: Buffer.from([0xc3]) } } })).toThrow(/the value of V is not UTF-8/)
    expect(() => buildUnits({ ...base, options: { entry, args: ['\ud800'] } })).toThrow(/lone surrogate/)
    // An environment name systemd does not pass on: refused when given, said in a comment when a saved spec has it.
    expect(() => buildUnits({ ...base, options: { entry, env: { 'A-B': '1' } } })).toThrow(/environment variable name "A-B"/)
    const fromSpec = buildUnits({ ...base, options: { entry, env: { 'BASH_FUNC_f%%': '() { :; }', 'NODE_DAEMONIZE_\nX': '1', OK: '2' } }, spec: { name: 'x', path: '/p' } })
    expect(parseEnvFile(fromSpec.files[1].text)).toEqual({ OK: '2' })
    const comments = parseUnit(fromSpec.files[0].text).comments
    expect(comments).toContain(`the saved spec's "BASH_FUNC_f%%": left out: systemd passes on only names of letters, digits and '_' (not starting with a digit)`)
    expect(comments).toContain('variable "NODE_DAEMONIZE_\\nX": left out, as start leaves it out (set by node-daemonize or by systemd)')
    // An entry whose name ends in a backslash: Description= must not continue onto the next line.
    const tail = join(dir, 'tail\\')
    writeFileSync(tail, '')
    const described = parseUnit(buildUnits({ options: { entry: tail }, unitDir: dir }).files[0].text)
    expect(value(described, 'Unit', 'Description')).toBe(`node-daemonize ${JSON.stringify(tail)}`)
    // One line of a unit file is less than 1 MiB for systemd.
    expect(() => buildUnits({ ...base, options: { entry, args: ['x'.repeat(1024 * 1024)] } })).toThrow(/ExecStart= would be \d+ bytes long/)
  })

  it.each([
    ['a newline in the working directory', (d: string) => ['--cwd', join(d, 'a\nb')], /working directory .* holds a control character/],
    ['a log file path ending in a space', (d: string) => ['--log-file', join(d, 'log ')], /log file .* starts or ends with white space/],
    ['an environment name systemd drops', () => ['--env', 'A-B=1'], /environment variable name "A-B"/],
    ['a working directory ending in a backslash', (d: string) => ['--cwd', join(d, 'w\\')], /ends with a backslash, which systemd reads as a line continuation/],
    ['a listen name ending in a backslash', () => ['--listen', 'tcp:8080,name=a\\'], /listen name "a\\\\" ends with a backslash/],
    ['an unknown user', () => ['--user', 'no such user'], /unknown user 'no such user'/, 1],
  ] as [string, (d: string) => string[], RegExp, number?][])('%s', async (_name, extra, message, code = 2) => {
    writeFileSync(join(dir, 'app.js'), '')
    mkdirSync(join(dir, 'a\nb'))
    mkdirSync(join(dir, 'w\\'))
    const r = await runCli(['unit', join(dir, 'app.js'), ...extra(dir)])
    // A value systemd cannot carry is a usage error (2); an unknown user is a failed lookup (1).
    expect(r.code).toBe(code)
    expect(r.out).toBe('')
    expect(r.err).toMatch(message)
  })
})

describe('unit --install never overwrites', () => {
  const install = (units: string) => runCli(['unit', join(dir, 'app.js'), '--env', 'S=secret', '--install', '--unit-dir', units])

  it('an existing unit: refused (exit 1, EEXIST), the file unchanged, nothing else written', async () => {
    writeFileSync(join(dir, 'app.js'), '')
    const units = join(dir, 'units')
    mkdirSync(units)
    writeFileSync(join(units, 'app.service'), 'mine\n')
    const r = await runCli(['unit', join(dir, 'app.js'), '--env', 'S=secret', '--install', '--unit-dir', units, '--json'])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, command: 'unit', error: { stage: 'unit', code: 'EEXIST', path: join(units, 'app.service') } })
    expect(readFileSync(join(units, 'app.service'), 'utf8')).toBe('mine\n')
    expect(readdirSync(units)).toEqual(['app.service'])
  })

  it('an existing environment file: the unit written before it is taken back', async () => {
    writeFileSync(join(dir, 'app.js'), '')
    const units = join(dir, 'units')
    mkdirSync(units)
    writeFileSync(join(units, 'app.env'), 'KEEP=1\n')
    const r = await install(units)
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/app\.env already exists: not overwritten/)
    expect(readdirSync(units)).toEqual(['app.env'])
    expect(readFileSync(join(units, 'app.env'), 'utf8')).toBe('KEEP=1\n')
  })

  it('a symbolic link planted at the unit path is not followed', async () => {
    writeFileSync(join(dir, 'app.js'), '')
    const units = join(dir, 'units')
    mkdirSync(units)
    symlinkSync(join(dir, 'target'), join(units, 'app.service'))
    const r = await install(units)
    expect(r.code).toBe(1)
    expect(existsSync(join(dir, 'target'))).toBe(false)
    expect(readdirSync(units)).toEqual(['app.service'])
  })
})

describe('unit NAME: the saved start spec of a named daemon', () => {
  const names = useNamesRoot()

  it('runs the same entry, arguments, environment and default log as the named daemon', async () => {
    const root = names()
    const entry = join(fixtures, 'daemon-idle.js')
    await startNamed(
      ['--name', 'svc', entry, '--clear-env', '--env', 'TOKEN=s3cr%t $x "q"', '--startup-grace', '0', '--umask', '007',
        '--listen', `unix:${join(dir, 'svc.sock')},name=http`, '--', 'a b', '50%'],
      root.env,
    )
    const units = join(dir, 'units')
    mkdirSync(units)
    const r = await runCli(['unit', 'svc', '--install', '--unit-dir', units], root.env)
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    expect(readdirSync(units).sort()).toEqual(['svc.env', 'svc.service', 'svc.socket'])
    const v = verify([join(units, 'svc.service'), join(units, 'svc.socket')])
    expect(v.stderr.split('\n').filter((l) => l.includes('svc.s'))).toEqual([])
    expect(v.status).toBe(0)

    const text = readFileSync(join(units, 'svc.service'), 'utf8')
    const unit = parseUnit(text)
    const argv = [process.execPath, '--require', preloadPath, entry, 'a b', '50%']
    expect(execArgv(value(unit, 'Service', 'ExecStart')!)).toEqual(argv)
    expect(dumpedArgv(dumpedCommand(v, 'svc.service', 'ExecStart')).map((w) => w.replaceAll('$$', '$'))).toEqual(argv)
    expect(value(unit, 'Service', 'UMask')).toBe('0007')
    const log = join(root.logs, 'svc.log')
    expect(dumped(v, 'svc.service', 'StandardOutputFileToAppend')).toEqual([log])
    expect(unitEnvironment(unit)).toEqual({ PATH: SAFE_PATH, NODE_DAEMONIZE_LOG_FILE: log, NODE_DAEMONIZE_CONTRACT: CONTRACT_VERSION })
    expect(parseEnvFile(readFileSync(join(units, 'svc.env'), 'utf8'))).toEqual({ TOKEN: 's3cr%t $x "q"' })
    // The spec's --listen: a socket unit with the same name and the unix socket's mode.
    expect(dumped(v, 'svc.socket', 'ListenStream')).toEqual([join(dir, 'svc.sock')])
    expect(dumped(v, 'svc.socket', 'FileDescriptorName')).toEqual(['http'])
    expect(dumped(v, 'svc.socket', 'SocketMode')).toEqual(['0660'])
    expect(unit.comments[0]).toBe(`svc.service: made by node-daemonize unit from the saved spec ${JSON.stringify(join(root.specs, 'svc.json'))}.`)
    expect(unit.comments.some((l) => l.startsWith('--name svc: node-daemonize stop/status/list/logs by name do not see'))).toBe(true)
  })

  it('start options with --name: the unit is named after it, with start\'s default log', async () => {
    const root = names()
    writeFileSync(join(dir, 'app.js'), '')
    const r = await runCli(['unit', '--name', 'api', join(dir, 'app.js'), '--json'], root.env)
    expect(r.code).toBe(0)
    const out = JSON.parse(r.out) as { service: string; files: { text: string }[] }
    expect(out.service).toBe('api.service')
    const unit = parseUnit(out.files[0].text)
    const log = join(root.logs, 'api.log')
    expect(specifiers(value(unit, 'Service', 'StandardOutput')!)).toBe(`append:${log}`)
    expect(unit.comments).toContain(`--name api without --log-file: start's default log, ${JSON.stringify(log)}; its directory must exist (a start --name makes it)`)
    expect(value(unit, 'Unit', 'Description')).toBe('node-daemonize "api"')
  })

  it('a word that names no daemon and no file: the error says so', async () => {
    const root = names()
    const r = await runCli(['unit', 'nosuch'], root.env)
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/^node-daemonize unit: no daemon named nosuch \(no spec /)
  })
})
