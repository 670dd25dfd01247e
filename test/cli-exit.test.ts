// How a CLI run ends (src/cli/command.ts finish(), issue 23): once its
// command has resolved and nothing is left in flight, the CLI ends at once
// rather than let Node tear down its heap, its threads and the addon: with
// _exit(2) (the addon's exitNow) where the addon is loaded, else with
// process.exit(). Whatever is still in flight must not be cut: a warning
// Node prints on a later tick, a timer, output a full pipe could not take
// at once; nor what Node does at its teardown on request: 'exit'
// listeners, a stdio stream's state put back, coverage written. Seen from
// outside, through a preload that records the calls
// (test/fixtures/exit-probe.cjs).
import { spawnSync } from 'node:child_process'
import { appendFileSync, closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fixtures } from './helpers/caller.js'
import { cliBin, runCli } from './helpers/cli.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { untilLine } from './helpers/files.js'
import { startNamed, useNamesRoot } from './helpers/names.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()
const names = useNamesRoot()

const probe = ['--require', join(fixtures, 'exit-probe.cjs')]

/** What the probe recorded: one line a call ("exit called", "exitNow N", "exitNow declined"). */
function calls(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []
}

/** Run the CLI under the probe: its result, and how it ended. */
async function probed(args: string[], env: NodeJS.ProcessEnv) {
  const file = join(scratchDir('nd-exit-'), 'calls')
  const run = await runCli(args, { ...env, EXIT_PROBE_FILE: file }, probe)
  return { ...run, calls: calls(file) }
}

describe('issue 23: a CLI run ends at once when nothing is left in flight', () => {
  it('status of a name that is not running ends with _exit(2), with its code: no process.exit()', async () => {
    const r = await probed(['status', 'nothing-here'], names().env)
    expect(r.code, r.err).toBe(3)
    expect(r.out).toMatch(/not running/)
    expect(r.calls).toEqual(['exitNow 3'])
  })

  it('start of a real daemon ends with _exit(2) too, and the daemon runs on', async () => {
    const r = await probed(['start', '--json', join(fixtures, 'lifecycle-hup.js'), '--name', 'quick'], names().env)
    expect(r.code, r.err).toBe(0)
    const { pid, logFile } = JSON.parse(r.out) as { pid: number; logFile: string }
    track(pid)
    await untilLine(logFile, 'up')
    expect(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0]).toMatch(/[RS]/)
    expect(r.calls).toEqual(['exitNow 0'])
    const stop = await runCli(['stop', 'quick'], names().env)
    expect(stop.code, stop.err).toBe(0)
  })

  it('without the addon (--help) it ends through process.exit()', async () => {
    const r = await probed(['--help'], names().env)
    expect(r.code, r.err).toBe(0)
    expect(r.out).toMatch(/usage/i)
    expect(r.calls).toEqual(['exit called'])
  })

  it('a warning emitted with the last output is still printed: Node ends the usual way', async () => {
    const r = await probed(['status', 'nothing-here'], { ...names().env, EXIT_PROBE_WARN: '1' })
    expect(r.code, r.err).toBe(3)
    expect(r.err).toContain('node-daemonize: warning: late warning')
    expect(r.calls).toEqual([])
  })

  it('a timer still running is not cut: Node ends after it', async () => {
    const r = await probed(['--help'], { ...names().env, EXIT_PROBE_TIMER_MS: '300' })
    expect(r.code, r.err).toBe(0)
    expect(r.err).toContain('timer ran')
    expect(r.calls).toEqual([])
  })

  it("an 'exit' listener still runs: process.exit(), not _exit(2)", async () => {
    const r = await probed(['status', 'nothing-here'], { ...names().env, EXIT_PROBE_ON_EXIT: '1' })
    expect(r.code, r.err).toBe(3)
    expect(r.err).toContain('exit listener ran')
    expect(r.calls).toEqual(['exit called'])
  })

  it('a stdio stream made during the run: Node ends the usual way, which puts its descriptor back', async () => {
    // On a pipe, the stream's handle keeps the loop: Node's own end.
    const r = await probed(['status', 'nothing-here'], { ...names().env, EXIT_PROBE_STREAM: '1' })
    expect(r.code, r.err).toBe(3)
    expect(r.out).toMatch(/not running/)
    expect(r.calls).toEqual([])
    // On a file, no handle: process.exit(), as the watched getter says a stream was made.
    const dir = scratchDir('nd-exit-')
    const out = openSync(join(dir, 'out'), 'w')
    try {
      const run = spawnSync(process.execPath, [...probe, cliBin, 'status', 'nothing-here'], {
        env: { ...names().env, EXIT_PROBE_FILE: join(dir, 'calls'), EXIT_PROBE_STREAM: '1' },
        stdio: ['ignore', out, 'pipe'],
        timeout: 60_000,
      })
      expect(run.status, run.stderr?.toString()).toBe(3)
    } finally {
      closeSync(out)
    }
    expect(readFileSync(join(dir, 'out'), 'utf8')).toMatch(/not running/)
    expect(calls(join(dir, 'calls'))).toEqual(['exit called'])
  })

  it('a non-blocking stdout: exitNow declines, process.exit() ends the run, and every line arrives', () => {
    const file = join(scratchDir('nd-exit-'), 'calls')
    const run = spawnSync('python3', [join(fixtures, 'late-reader.py'), '0', process.execPath, ...probe, cliBin, 'status', 'nothing-here'], {
      env: { ...names().env, EXIT_PROBE_FILE: file },
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect(run.status, run.stderr).toBe(3)
    expect(run.stdout).toMatch(/not running/)
    expect(calls(file)).toEqual(['exitNow 3', 'exitNow declined', 'exit called'])
  })

  it('NODE_V8_COVERAGE: process.exit(), and Node still writes the coverage at its teardown', async () => {
    const dir = scratchDir('nd-exit-cov-')
    const r = await probed(['status', 'nothing-here'], { ...names().env, NODE_V8_COVERAGE: dir })
    expect(r.code, r.err).toBe(3)
    expect(r.calls).toEqual(['exit called'])
    expect(readdirSync(dir).filter((f) => f.startsWith('coverage-') && f.endsWith('.json')).length).toBe(1)
  })

  it('output a full non-blocking pipe could not take at once all arrives (logs -n 6000, 600 kB)', async () => {
    const root = names()
    const { result } = await startNamed([join(fixtures, 'lifecycle-hup.js'), '--name', 'big'], root.env)
    const log = result.logFile as string
    await untilLine(log, 'up')
    let lines = ''
    for (let i = 0; i < 6000; i++) lines += `line ${String(i).padStart(5, '0')} ${'x'.repeat(88)}\n`
    appendFileSync(log, lines)
    // The pipe holds 64 kB: the rest waits in the CLI's stream until the reader, 1 s later, reads.
    const run = spawnSync('python3', [join(fixtures, 'late-reader.py'), '1', process.execPath, cliBin, 'logs', 'big', '-n', '6000'], {
      env: root.env,
      maxBuffer: 16 * 1024 * 1024,
      timeout: 60_000,
    })
    expect(run.status, run.stderr?.toString()).toBe(0)
    expect(run.stdout.length).toBe(Buffer.byteLength(lines))
    expect(run.stdout.toString('latin1')).toBe(lines)
  })
})
