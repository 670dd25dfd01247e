// How a CLI run ends (src/cli/command.ts finish(), issue 23): once its
// command has resolved and nothing is left in flight, the CLI calls
// process.exit() rather than let Node tear down its heap and the addon
// (~0.2-0.7 ms of a command here). Whatever is still in flight must not be
// cut: a warning Node prints on a later tick, a timer, output a full pipe
// could not take at once. Seen from outside, through a preload that records
// the call (test/fixtures/exit-probe.cjs).
import { spawnSync } from 'node:child_process'
import { appendFileSync, existsSync, readFileSync } from 'node:fs'
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

/** Run the CLI under the probe: its result, and whether it ended through process.exit(). */
async function probed(args: string[], env: NodeJS.ProcessEnv) {
  const file = join(scratchDir('nd-exit-'), 'calls')
  const run = await runCli(args, { ...env, EXIT_PROBE_FILE: file }, probe)
  return { ...run, exitCalled: existsSync(file) && readFileSync(file, 'utf8').includes('exit called') }
}

describe('issue 23: a CLI run ends at once when nothing is left in flight', () => {
  it('status of a name that is not running ends through process.exit(), with its code', async () => {
    const r = await probed(['status', 'nothing-here'], names().env)
    expect(r.code, r.err).toBe(3)
    expect(r.out).toMatch(/not running/)
    expect(r.exitCalled).toBe(true)
  })

  it('start of a real daemon ends through process.exit() too, and the daemon runs on', async () => {
    const r = await probed(['start', '--json', join(fixtures, 'lifecycle-hup.js'), '--name', 'quick'], names().env)
    expect(r.code, r.err).toBe(0)
    const { pid, logFile } = JSON.parse(r.out) as { pid: number; logFile: string }
    track(pid)
    await untilLine(logFile, 'up')
    expect(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0]).toMatch(/[RS]/)
    expect(r.exitCalled).toBe(true)
    const stop = await runCli(['stop', 'quick'], names().env)
    expect(stop.code, stop.err).toBe(0)
  })

  it('a warning emitted with the last output is still printed: Node ends the usual way', async () => {
    const r = await probed(['status', 'nothing-here'], { ...names().env, EXIT_PROBE_WARN: '1' })
    expect(r.code, r.err).toBe(3)
    expect(r.err).toContain('node-daemonize: warning: late warning')
    expect(r.exitCalled).toBe(false)
  })

  it('a timer still running is not cut: Node ends after it', async () => {
    const r = await probed(['--help'], { ...names().env, EXIT_PROBE_TIMER_MS: '300' })
    expect(r.code, r.err).toBe(0)
    expect(r.err).toContain('timer ran')
    expect(r.exitCalled).toBe(false)
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
