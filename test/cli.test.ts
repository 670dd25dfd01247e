// The node-daemonize command as a user runs it: `node bin/node-daemonize.js`
// in a subprocess (the bundled CLI in dist/), real daemons checked in /proc.
import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { native } from '../src/native.js'
import { SAFE_PATH } from '../src/options/daemonize-options.js'
import { fixtures, root } from './helpers/caller.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { completeLines, untilLine } from './helpers/files.js'
import { until } from './helpers/wait.js'
import { isAlive, procCwd, procStat, procStatus } from './helpers/proc.js'
import { runCli as cli } from './helpers/cli.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

const entry = join(fixtures, 'daemon-reporter.mjs')
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version



/** What daemon-reporter.mjs saw, once it has written it. */
async function report(path: string): Promise<{ pid: number; argv: string[]; cwd: string; sid: number; pgid: number; umask: number }> {
  // daemon-reporter writes it to a temporary name and renames it: once there, it is whole.
  await until(`daemon-reporter's report ${path}`, () => existsSync(path))
  return JSON.parse(readFileSync(path, 'utf8'))
}

/** The pid file's lock (on its lock file) is held (by someone else than this test process). */
function pidFileLocked(path: string): boolean {
  const fd = openSync(`${path}.lock`, 'r')
  try {
    return native().isLocked(fd)
  } finally {
    closeSync(fd)
  }
}

function environ(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean)
}

let dir: string
beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'cli.cjs'))) throw new Error('dist/cli.cjs is missing: run npm run build first')
})
beforeEach(() => {
  dir = scratchDir('nd-cli-')
})

describe('help, version and usage errors', () => {
  it.each([['--help'], ['-h'], ['help']])('%s prints the commands on stdout, exit 0', async (flag) => {
    const r = await cli([flag])
    expect(r).toMatchObject({ code: 0, err: '' })
    expect(r.out).toMatch(/^Usage: node-daemonize <command> \[options\]\n/)
    for (const c of ['start', 'stop', 'status', 'restart', 'reload', 'list', 'logs']) expect(r.out).toContain(`\n  ${c} `)
  })

  it.each([['--version'], ['-V']])('%s prints the package version on stdout, exit 0', async (flag) => {
    expect(await cli([flag])).toEqual({ code: 0, out: `${version}\n`, err: '' })
  })

  it.each(['start', 'stop', 'status', 'restart', 'reload', 'list', 'logs'])('%s --help prints that command\'s usage, exit 0', async (command) => {
    for (const flag of ['--help', '-h']) {
      const r = await cli([command, flag])
      expect(r).toMatchObject({ code: 0, err: '' })
      expect(r.out.startsWith(`Usage: node-daemonize ${command} `)).toBe(true)
    }
    expect((await cli(['help', command])).out.startsWith(`Usage: node-daemonize ${command} `)).toBe(true)
  })

  it('start --help wins over other, even invalid, arguments', async () => {
    const r = await cli(['start', '--bogus', '--help'])
    expect(r.code).toBe(0)
    expect(r.out).toContain('--startup-grace DURATION')
  })

  it.each([
    [[], 'node-daemonize: missing command', "Try 'node-daemonize --help'"],
    [['frobnicate'], "node-daemonize: unknown command 'frobnicate'", "Try 'node-daemonize --help'"],
    [['help', 'frobnicate'], "node-daemonize: unknown command 'frobnicate'", "Try 'node-daemonize --help'"],
    [['--bogus'], "node-daemonize: unknown option '--bogus'", "Try 'node-daemonize --help'"],
    [['start'], 'node-daemonize start: missing <entry>', "Try 'node-daemonize start --help'"],
    [['start', 'x.js', '--bogus'], "node-daemonize start: unknown option '--bogus'", "Try 'node-daemonize start --help'"],
    [['start', 'x.js', '--log-file'], "node-daemonize start: option '--log-file' needs a value", 'start --help'],
    [['start', 'x.js', '--startup-grace', '5x'], 'node-daemonize start: --startup-grace takes a duration', 'start --help'],
    [['start', 'x.js', '--umask', '088'], 'node-daemonize start: --umask takes an octal mode', 'start --help'],
    [['start', 'x.js', 'y.js'], "node-daemonize start: unexpected argument 'y.js'", 'start --help'],
    [['restart'], 'node-daemonize restart: which daemon? give its NAME, or <entry> with --pid-file FILE', "Try 'node-daemonize restart --help'"],
    [['restart', 'x/y.js'], 'node-daemonize restart: invalid daemon name "x/y.js"', "Try 'node-daemonize restart --help'"],
    [['status'], 'node-daemonize status: which daemon? give its NAME or --pid-file FILE', "Try 'node-daemonize status --help'"],
    [['status', 'web', '--pid-file', 'p'], 'node-daemonize status: give either NAME or --pid-file, not both', 'status --help'],
    [['logs'], 'node-daemonize logs: which daemon? give its NAME', "Try 'node-daemonize logs --help'"],
    [['logs', 'web', '-n', 'many'], 'node-daemonize logs: --lines takes a positive whole number', 'logs --help'],
    [['list', 'extra'], "node-daemonize list: unexpected argument 'extra'", 'list --help'],
    [['stop', '--timeout', 'soon', '--pid-file', 'p'], 'node-daemonize stop: --timeout takes a duration', 'stop --help'],
  ])('%j: a usage error on stderr, exit 2', async (args, what, hint) => {
    const r = await cli(args)
    expect(r.code).toBe(2)
    expect(r.out).toBe('')
    const lines = r.err.trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toContain(what)
    expect(lines[1]).toContain(hint)
  })
})

describe('start', () => {
  it('--json: the printed pid is the daemon, in its own session, holding the pid file', async () => {
    const out = join(dir, 'report.json')
    const pidFile = join(dir, 'd.pid')
    const logFile = join(dir, 'd.log')
    const r = await cli(['start', entry, '--pid-file', pidFile, '--log-file', logFile, '--json', '--startup-grace', '0', '--', out])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    const d = JSON.parse(r.out) as { pid: number; sid: number; pgid: number; helperPid: number; logFile: string; pidFile: string; entry: string }
    track(d.pid)
    expect(d).toMatchObject({ entry, logFile, pidFile, ready: false })

    const seen = await report(out)
    expect(seen.pid).toBe(d.pid)
    const st = procStat(d.pid)
    expect(st.session).toBe(d.sid)
    expect(st.session).not.toBe(d.pid) // not a session leader
    expect(st.session).not.toBe(procStat(process.pid).session)
    expect(st.pgrp).toBe(d.sid)
    expect(st.ttyNr).toBe(0)
    expect(readFileSync(`/proc/${d.pid}/cmdline`, 'utf8').split('\0')).toContain(entry)
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(d.pid))
    expect(pidFileLocked(pidFile)).toBe(true)
    await untilLine(logFile, `daemon-reporter ${d.pid} up`)
    // The launcher's stage lines, through the bundled pino.
    const stages = completeLines(logFile)
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { stage: string; value: number; name: string; msg: string })
    expect(stages.map((s) => s.stage)).toEqual(expect.arrayContaining(['setsid', 'fork', 'session', 'exec']))
    expect(stages.find((s) => s.stage === 'fork')).toMatchObject({ value: d.pid, name: 'node-daemonize', msg: 'stage fork ok' })
  })

  it('loads pino only to write the log: never without --log-file', async () => {
    const required = (err: string) => JSON.parse(/^REQUIRED (.*)$/m.exec(err)?.[1] ?? 'null') as string[]
    const preload = ['--require', join(fixtures, 'cli-required.cjs')]
    const without = await cli(['start', entry, '--json', '--startup-grace', '0', '--', join(dir, 'a.json')], process.env, preload)
    expect(without.code).toBe(0)
    track((JSON.parse(without.out) as { pid: number }).pid)
    expect(required(without.err).filter((p) => /pino/.test(p))).toEqual([])

    const withLog = await cli(
      ['start', entry, '--json', '--startup-grace', '0', '--log-file', join(dir, 'b.log'), '--', join(dir, 'b.json')],
      process.env,
      preload,
    )
    expect(withLog.code).toBe(0)
    track((JSON.parse(withLog.out) as { pid: number }).pid)
    expect(required(withLog.err)).toContain(join(root, 'dist', 'cli-pino.cjs'))
  })

  it('prints "started <entry> as pid N (session S), log L"', async () => {
    const out = join(dir, 'report.json')
    const logFile = join(dir, 'plain.log')
    const r = await cli(['start', entry, '--log-file', logFile, '--', out])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    const m = /^started (.+) as pid (\d+) \(session (\d+)\), log (.+)\n$/.exec(r.out)
    expect(m).not.toBeNull()
    const [, shown, pid, sid, log] = m as RegExpExecArray
    track(Number(pid))
    expect(shown).toBe(entry)
    expect(log).toBe(logFile)
    expect((await report(out)).pid).toBe(Number(pid))
    expect(procStat(Number(pid)).session).toBe(Number(sid))
  })

  it('passes the arguments after -- verbatim: spaces, quotes, $HOME, globs, options, empty strings, another --', async () => {
    const out = join(dir, 'report.json')
    const args = ['two words', '"double"', "'single'", '$HOME', '${PATH}', '*', '`id`', '$(id)', '', '--port', '-x', '--', 'a\\b', ' ', 'ünï', '; rm -rf /']
    const r = await cli(['start', entry, '--quiet', '--startup-grace', '0', '--', out, ...args])
    expect(r).toEqual({ code: 0, out: '', err: '' })
    const seen = await report(out)
    track(seen.pid)
    expect(seen.argv).toEqual([out, ...args])
  })

  it('applies --cwd, --umask, --clear-env and --env as /proc shows them', async () => {
    const out = join(dir, 'report.json')
    const r = await cli(['start', entry, '--json', '--startup-grace', '0', '--cwd', dir, '--umask', '027', '--clear-env', '--env', 'A=1', '--env', 'B=x=y', '--', out])
    expect(r.code).toBe(0)
    const { pid } = JSON.parse(r.out) as { pid: number }
    track(pid)
    await report(out)
    expect(procCwd(pid)).toBe(dir)
    expect(procStatus(pid).Umask).toBe('0027')
    const env = environ(pid).filter((e) => !e.startsWith('NODE_DAEMONIZE_'))
    expect(env.sort()).toEqual(['A=1', 'B=x=y', `PATH=${SAFE_PATH}`])
  })

  it('--env adds to the caller\'s environment', async () => {
    const out = join(dir, 'report.json')
    const r = await cli(['start', entry, '--json', '--startup-grace', '0', '--env', 'ND_CLI_ADDED=yes', '--', out], { ...process.env, ND_CLI_INHERITED: 'kept' })
    expect(r.code).toBe(0)
    const { pid } = JSON.parse(r.out) as { pid: number }
    track(pid)
    await report(out)
    const env = environ(pid)
    expect(env).toContain('ND_CLI_ADDED=yes')
    expect(env).toContain('ND_CLI_INHERITED=kept')
  })

  it('a missing entry: exit 1, the message on stderr, nothing started or left behind', async () => {
    const missing = join(dir, 'nope.js')
    const pidFile = join(dir, 'x.pid')
    const r = await cli(['start', missing, '--pid-file', pidFile, '--log-file', join(dir, 'x.log')])
    expect(r.code).toBe(1)
    expect(r.out).toBe('')
    expect(r.err).toBe(
      `node-daemonize start: entry ${missing} cannot be used: ENOENT: no such file or directory, stat '${missing}'\n`,
    )
    expect(existsSync(pidFile)).toBe(false)
  })

  it('a failure with --json: the error as JSON on stdout too', async () => {
    const missing = join(dir, 'nope.js')
    const r = await cli(['start', missing, '--json'])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.out)).toEqual({
      ok: false,
      command: 'start',
      error: expect.objectContaining({ stage: 'entry', code: 'ENOENT', path: missing }),
    })
    expect(r.err).toMatch(/^node-daemonize start: /)
  })

  it('a daemon that dies in the start-up grace: exit 1 with its exit code and log tail', async () => {
    const crash = join(dir, 'crash.js')
    writeFileSync(crash, "console.error('cannot bind the port'); setTimeout(() => process.exit(3), 50)\n")
    const r = await cli(['start', crash, '--log-file', join(dir, 'crash.log'), '--startup-grace', '20s'])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/^node-daemonize start: the daemon exited with code 3/)
    expect(r.err).toContain('cannot bind the port')
  })

  it('a second start on the same pid file: exit 1 "already running"; with --ok-if-running exit 0', async () => {
    const out = join(dir, 'report.json')
    const pidFile = join(dir, 'once.pid')
    const first = await cli(['start', entry, '--pid-file', pidFile, '--json', '--startup-grace', '0', '--', out])
    expect(first.code).toBe(0)
    const { pid } = JSON.parse(first.out) as { pid: number }
    track(pid)
    await report(out)

    const again = await cli(['start', entry, '--pid-file', pidFile, '--startup-grace', '0', '--', join(dir, 'other.json')])
    expect(again.code).toBe(1)
    expect(again.err).toBe(`node-daemonize start: already running (pid ${pid})\n`)

    const ok = await cli(['start', entry, '--pid-file', pidFile, '--ok-if-running', '--json', '--startup-grace', '0', '--', join(dir, 'other.json')])
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.out)).toEqual({ alreadyRunning: true, pid, pidFile })
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(pid))
    expect(existsSync(join(dir, 'other.json'))).toBe(false)
  })
})

describe('restart', () => {
  it('stops the daemon named by the pid file, then starts a new one', async () => {
    const pidFile = join(dir, 'r.pid')
    const first = await cli(['start', entry, '--pid-file', pidFile, '--json', '--startup-grace', '0', '--', join(dir, 'one.json')])
    expect(first.code).toBe(0)
    const old = track((JSON.parse(first.out) as { pid: number }).pid)
    await report(join(dir, 'one.json'))

    const r = await cli(['restart', entry, '--pid-file', pidFile, '--json', '--startup-grace', '0', '--', join(dir, 'two.json')])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    const d = JSON.parse(r.out) as { pid: number; stop: { wasRunning: boolean; pid: number } }
    track(d.pid)
    expect(d.stop).toMatchObject({ wasRunning: true, pid: old })
    expect(d.pid).not.toBe(old)
    await untilGone(old)
    expect((await report(join(dir, 'two.json'))).pid).toBe(d.pid)
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(d.pid))
    expect(pidFileLocked(pidFile)).toBe(true)
  })

  it('starts it when nothing was running', async () => {
    const pidFile = join(dir, 'fresh.pid')
    const r = await cli(['restart', entry, '--pid-file', pidFile, '--startup-grace', '0', '--', join(dir, 'r.json')])
    expect(r.code).toBe(0)
    const lines = r.out.trimEnd().split('\n')
    expect(lines[0]).toBe(`not running (no pid file ${pidFile})`)
    const m = /^started .* as pid (\d+) /.exec(lines[1])
    expect(m).not.toBeNull()
    track(Number((m as RegExpExecArray)[1]))
    expect((await report(join(dir, 'r.json'))).pid).toBe(Number((m as RegExpExecArray)[1]))
  })

  it('checks the new launch before stopping: a bad entry leaves the running daemon alone', async () => {
    const pidFile = join(dir, 'keep.pid')
    const first = await cli(['start', entry, '--pid-file', pidFile, '--json', '--startup-grace', '0', '--', join(dir, 'k.json')])
    expect(first.code).toBe(0)
    const pid = track((JSON.parse(first.out) as { pid: number }).pid)
    await report(join(dir, 'k.json'))

    const missing = join(dir, 'typo.js')
    const r = await cli(['restart', missing, '--pid-file', pidFile])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/^node-daemonize restart: entry .*typo\.js cannot be used/)
    expect(isAlive(pid)).toBe(true)
    expect(pidFileLocked(pidFile)).toBe(true)
  })
})

describe('under systemd', () => {
  let receiver: ChildProcess | undefined
  afterEach(() => {
    receiver?.kill('SIGKILL')
    receiver = undefined
  })

  it('with NOTIFY_SOCKET set, start sends MAINPID=<daemon> and READY=1; the daemon does not get NOTIFY_SOCKET', async () => {
    const socket = join(dir, 'notify.sock')
    // A stand-in for systemd's socket: one JSON line per datagram, with the sender's pid.
    receiver = spawn('python3', [join(fixtures, 'daemon-notify-receiver.py'), socket], { stdio: ['ignore', 'pipe', 'inherit'] })
    const got: { msg: string; pid: number | null }[] = []
    let bound = false
    createInterface({ input: receiver.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const m = JSON.parse(line) as { bound?: string; msg: string; pid: number | null }
      if (m.bound !== undefined) bound = true
      else got.push({ msg: m.msg, pid: m.pid })
    })
    await until('the notify receiver to bind its socket', () => bound)

    const out = join(dir, 'report.json')
    const r = await cli(['start', entry, '--json', '--startup-grace', '0', '--', out], { ...process.env, NOTIFY_SOCKET: socket })
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    const { pid } = JSON.parse(r.out) as { pid: number }
    track(pid)
    await until('a datagram at the notify socket', () => got.length > 0)
    expect(got[0].msg).toBe(`MAINPID=${pid}\nREADY=1\n`)
    expect(got[0].pid).not.toBe(pid) // sent by the launcher, not the daemon
    await report(out)
    expect(environ(pid).some((e) => e.startsWith('NOTIFY_SOCKET='))).toBe(false)
  })
})
