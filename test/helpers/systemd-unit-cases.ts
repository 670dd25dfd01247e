// The matrix of \`node-daemonize unit\` cases that systemd-unit-verify.test.ts
// runs through systemd-analyze: start options with hostile values, and what
// the generated unit must say for each.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CONTRACT_VERSION } from '../../src/daemon/contract.cjs'
import { preloadPath } from '../../src/options/resolve.js'
import { SAFE_PATH } from '../../src/options/daemonize-options.js'

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

export interface Case {
  name: string
  /** The command line after `unit`, given the case's directory. */
  args: (d: string) => string[]
  /** What the unit must say, given the directory. */
  expect: (d: string) => Expected
}

export interface Expected {
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

export const CASES: Case[] = [
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
