// `node-daemonize logs` as root, reading the log of a named daemon that runs
// as nobody: the service user writes that log (the tests do, as nobody), so
// what it holds is hostile. Hardening round 2, defects 1-3: on a terminal
// nothing from the log is obeyed and one record is one line; `-n` reads a
// bounded window from the end whatever the log holds; `-f` on a terminal is
// linear and holds at most a bounded part of a line. (The escaping and the
// line cutter themselves: test/unit/escape.test.ts, test/unit/log-lines.test.ts.)
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { fixtures } from './helpers/caller.js'
import { cliBin, runCli } from './helpers/cli.js'
import { cleanUpDaemons } from './helpers/daemons.js'
import { untilLine } from './helpers/files.js'
import { type NamesRoot, startNamed, useNamesRoot } from './helpers/names.js'
import { until } from './helpers/wait.js'
import { cleanUpScratchDirs } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()
const names = useNamesRoot()

const entry = join(fixtures, 'lifecycle-hup.js')
const asNobody = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups']
const ptyRun = join(fixtures, 'pty-run.py')
/** What `logs` reads of a log from its end, and what a terminal shows of one line (src/logs.ts, src/log-view.ts). */
const WINDOW = 1024 * 1024
const SHOWN = 64 * 1024

/** A named daemon run as nobody, its log (in nobody's directory) written by nobody. */
async function daemonAsNobody(r: NamesRoot, name: string): Promise<string> {
  const { result } = await startNamed([entry, '--name', name, '--user', 'nobody'], r.env)
  const log = result.logFile as string
  await untilLine(log, 'up')
  expect(statSync(log).uid).not.toBe(0)
  return log
}

/** As nobody: append these bytes to the log. */
function appendAsNobody(log: string, bytes: Buffer | string): void {
  const w = spawnSync(asNobody[0], [...asNobody.slice(1), 'sh', '-c', 'cat >> "$1"', 'sh', log], { input: bytes })
  expect(w.status, w.stderr?.toString()).toBe(0)
}

/** `logs ...` on a pseudo-terminal: what the terminal got. */
function onTerminal(r: NamesRoot, args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; out: string; err: string } {
  const run = spawnSync('python3', [ptyRun, process.execPath, cliBin, 'logs', ...args], {
    env: { ...r.env, TERM: 'xterm', TZ: 'UTC', NO_COLOR: '1', ...env },
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  })
  return { status: run.status, out: run.stdout, err: run.stderr }
}

/** The screen lines a terminal got (the terminal turns each \n into \r\n). */
function screenLines(out: string): string[] {
  expect(out.endsWith('\r\n')).toBe(true)
  return out.slice(0, -2).split('\r\n')
}

/** Anything a terminal would act on rather than show (the \r\n line ends taken out). */
const OBEYED = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/

describe('the launcher\'s log tail uses the same escaping (hardening round 2, defect 1)', () => {
  it('a daemon that dies at start-up: its last lines quoted in the error, one line each, nothing obeyed', async () => {
    const r = names()
    const app = join(r.top, 'dies.js')
    writeFileSync(
      app,
      "process.stdout.write('starting\\n\\u202eevil\\u2028forged\\r\\x1b[2K\\u009b1A\\u2066\\n'); process.exitCode = 3\n",
      { mode: 0o644 },
    )
    const run = await runCli(['start', app, '--name', 'dies', '--user', 'nobody', '--startup-grace', '10s'], r.env)
    expect(run.code, run.err).toBe(1)
    expect(run.err).toContain('exited with code 3')
    const lines = run.err.split('\n')
    expect(lines).toContain('starting')
    expect(lines).toContain('\\u202eevil\\u2028forged\\x0d\\x1b[2K\\x9b1A\\u2066')
    for (const l of lines) expect(l).not.toMatch(OBEYED)
  })
})

describe('logs on a terminal: the service user\'s text is shown, never obeyed (hardening round 2, defect 1)', () => {
  it('escapes every field of a JSON record and every other line: one record, one screen line', async () => {
    const r = names()
    const log = await daemonAsNobody(r, 'esc')
    const time = Date.UTC(2026, 0, 2, 3, 4, 5, 678)
    const records = [
      // A string level was upper-cased and printed as it is: retitle and clear the terminal.
      { level: '\x1b]0;pwned\x07\x1b[2J', time, msg: 'retitled' },
      // A newline in msg printed a second, forged record.
      { level: 30, time, msg: 'first\n2026-01-02 03:04:05.678 INFO  forged record' },
      // Carriage return and backspace overwrite; C1 (CSI, NEL), bidi and separators in keys and values.
      {
        level: 40,
        time,
        name: 'app\r',
        msg: 'over\rwrite\b\b\x7f\t',
        'k\x1b[1m': 'v\u009b2J',
        bidi: 'a\u202eb\u2066c\u2069',
        sep: 'x\u2028y\u2029z\u0085',
        n: { '\u009b': 1 },
      },
    ]
    const plain = 'plain \r\b\x7f \u009b\u202e\u2028 \x1b[2J end'
    const written = records.map((rec) => JSON.stringify(rec)).join('\n') + '\n' + plain + '\n'
    appendAsNobody(log, written)

    // Into a pipe the bytes pass unchanged.
    const piped = spawnSync(process.execPath, [cliBin, 'logs', 'esc', '-n', '4'], { env: r.env })
    expect(piped.status, piped.stderr.toString()).toBe(0)
    expect(piped.stdout).toEqual(Buffer.from(written))

    const run = onTerminal(r, ['esc', '-n', '4'])
    expect(run.status, run.err).toBe(0)
    const lines = screenLines(run.out)
    expect(lines).toEqual([
      '2026-01-02 03:04:05.678 \\x1b]0;PWNED\\x07\\x1b[2J retitled',
      '2026-01-02 03:04:05.678 INFO  first\\x0a2026-01-02 03:04:05.678 INFO  forged record',
      '2026-01-02 03:04:05.678 WARN  app\\x0d: over\\x0dwrite\\x08\\x08\\x7f\\x09 k\\x1b[1m=v\\x9b2J bidi=a\\u202eb\\u2066c\\u2069 sep=x\\u2028y\\u2029z\\x85 n={"\\x9b":1}',
      'plain \\x0d\\x08\\x7f \\x9b\\u202e\\u2028 \\x1b[2J end',
    ])
    for (const l of lines) expect(l).not.toMatch(OBEYED)

    // In colour: only our own SGR sequences reach the terminal.
    const coloured = onTerminal(r, ['esc', '-n', '4'], { NO_COLOR: '' })
    expect(coloured.status, coloured.err).toBe(0)
    const ours = /\x1b\[[0-9;]*m/g
    expect(coloured.out.match(ours)?.length).toBeGreaterThan(0)
    const colouredLines = screenLines(coloured.out.replace(ours, ''))
    expect(colouredLines).toEqual(lines)
  })
})

describe('logs -n reads a bounded window from the end (hardening round 2, defect 2)', () => {
  it('a 1 GiB line of the service user\'s (truncate -s +1G): the window\'s bytes into a pipe, the cut said on stderr; a marked, bounded line on a terminal', async () => {
    const r = names()
    const log = await daemonAsNobody(r, 'huge')
    const t = spawnSync(asNobody[0], [...asNobody.slice(1), 'truncate', '-s', '+1G', log])
    expect(t.status, t.stderr?.toString()).toBe(0)
    expect(statSync(log).size).toBeGreaterThan(1024 ** 3)

    const piped = spawnSync(process.execPath, [cliBin, 'logs', 'huge', '-n', '1'], { env: r.env, maxBuffer: 8 * WINDOW, timeout: 60_000 })
    expect(piped.error).toBeUndefined()
    expect(piped.status, piped.stderr.toString()).toBe(0)
    // (Buffer.equals: toEqual compares a MiB element by element, for seconds.)
    expect(piped.stdout.length).toBe(WINDOW)
    expect(piped.stdout.equals(Buffer.alloc(WINDOW))).toBe(true)
    expect(piped.stderr.toString()).toBe(
      'node-daemonize logs: the first line shown is cut at its start: it is longer than the last 1 MiB of the log, which is all that is read\n',
    )

    const run = onTerminal(r, ['huge', '-n', '1'])
    expect(run.status, run.err).toBe(0)
    const lines = screenLines(run.out)
    expect(lines).toHaveLength(1)
    // NUL is a control: escaped. At most SHOWN bytes of one line reach a terminal.
    expect(lines[0]).toBe(`[≥ ${WINDOW - SHOWN + 1} bytes cut] ${'\\x00'.repeat(SHOWN)}`)
  })

  it('whatever N is: at most the last 1 MiB, whole lines, and stderr says fewer lines are shown', async () => {
    const r = names()
    const log = await daemonAsNobody(r, 'many')
    const line = (i: number) => `line ${String(i).padStart(7, '0')} ${'x'.repeat(80)}\n`
    const count = 30_000 // ~2.7 MiB
    appendAsNobody(log, Array.from({ length: count }, (_, i) => line(i)).join(''))
    const all = readFileSync(log)

    const piped = spawnSync(process.execPath, [cliBin, 'logs', 'many', '-n', '1000000'], { env: r.env, maxBuffer: 8 * WINDOW })
    expect(piped.status, piped.stderr.toString()).toBe(0)
    const out = piped.stdout
    expect(out.length).toBeLessThanOrEqual(WINDOW)
    expect(out.length).toBeGreaterThan(WINDOW - line(0).length)
    // The file's tail, from the start of a line.
    expect(out.equals(all.subarray(all.length - out.length))).toBe(true)
    expect(all[all.length - out.length - 1]).toBe(0x0a)
    const shown = out.toString().split('\n').length - 1
    expect(piped.stderr.toString()).toBe(
      `node-daemonize logs: only the last ${shown} lines are shown: logs reads at most the last 1 MiB of the log\n`,
    )
  })
})

describe('logs -f on a terminal holds a bounded part of a line (hardening round 2, defect 3)', () => {
  const running: ChildProcess[] = []
  afterEach(() => {
    for (const c of running.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  })

  it('a 32 MiB append without a newline: shown as one marked line of its last 64 KiB, and the lines after it whole', async () => {
    const r = names()
    const log = await daemonAsNobody(r, 'long')
    appendAsNobody(log, 'before the follower\n')
    // python3 -u: what pty-run copies reaches us as it comes, not when it exits.
    const pty = spawn('python3', ['-u', ptyRun, process.execPath, cliBin, 'logs', 'long', '-f', '-n', '1'], {
      env: { ...r.env, TERM: 'xterm', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    running.push(pty)
    let out = ''
    pty.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
    const closed = new Promise<number | null>((resolve) => pty.on('close', (code) => resolve(code)))
    const seen = () => (out.length > 2000 ? `${out.slice(0, 1000)} ... ${out.slice(-1000)}` : out)

    // Its last line shown: it follows from there on.
    await until('the follower to show the last line', () => out.includes('before the follower\r\n'), { seen })
    const long = 32 * 1024 * 1024
    appendAsNobody(log, 'A'.repeat(long))
    appendAsNobody(log, 'B-end\nafter\n')
    await until('the line after the long one', () => out.includes('after\r\n'), { seen })

    // The CLI is pty-run's child (it runs on the terminal's session): Ctrl-C's SIGINT ends it.
    const cli = Number(readFileSync(`/proc/${pty.pid}/task/${pty.pid}/children`, 'utf8').trim().split(' ')[0])
    process.kill(cli, 'SIGINT')
    expect(await closed).toBe(0)
    // Bounded: one cut line of at most SHOWN bytes, not the 32 MiB.
    expect(out.length).toBeLessThan(SHOWN + 200)
    const lineBytes = long + 'B-end'.length
    expect(screenLines(out)).toEqual(['before the follower', `[${lineBytes - SHOWN} bytes cut] ${'A'.repeat(SHOWN - 5)}B-end`, 'after'])
  })
})

describe('logs -f into a pipe that is not read (a reader that stalls)', () => {
  it('reads no more than it can write: 200 MiB appended behind a full non-blocking pipe leave its memory bounded', async () => {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'stall'], r.env)
    const log = result.logFile as string
    await untilLine(log, 'up')
    const run = spawnSync('python3', [join(fixtures, 'stalled-reader.py'), log, '200', process.execPath, cliBin, 'logs', 'stall', '-f', '-n', '0'], {
      env: r.env,
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect(run.status, run.stderr).toBe(0)
    const peakKb = Number(run.stdout.trim())
    expect(peakKb).toBeGreaterThan(0)
    // Node alone is ~45 MB here; what was read and not written (the 200 MiB) must not be held.
    expect(peakKb).toBeLessThan(120 * 1024)
  })
})

