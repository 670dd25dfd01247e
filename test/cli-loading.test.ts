// What each CLI command loads: only its own code (issue 23: every command
// as quick as `node -e 0`). V8 reads and pre-parses all of a file it
// compiles, so a command that reads a pid file must not load a file that
// also holds the unit writer, the list table, the launcher or pino; and
// none loads Node's stream machinery (net, tty, stream) it does not use.
// Each command is one bundle of its own (dist/cli-<command>.cjs; the
// dispatcher dist/cli.cjs only for the commands run now and then): each file
// Node loads costs ~0.3 ms, so a command loads no shared chunks either.
// Recorded by preloading test/fixtures/module-recorder.cjs into the real CLI.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fixtures, root } from './helpers/caller.js'
import { runCli } from './helpers/cli.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { startNamed, useNamesRoot } from './helpers/names.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()
const names = useNamesRoot()

const COMMANDS = ['start', 'stop', 'status', 'restart', 'reload', 'list', 'logs', 'unit']

interface Loaded {
  /** The package's files the command required (paths relative to the package root). */
  files: string[]
  /** Every command whose usage text is in one of those files. */
  commandsParsed: string[]
  builtins: string[]
}

/** Run the CLI with the recorder; what it loaded, and how it exited. */
async function loaded(args: string[], env: NodeJS.ProcessEnv): Promise<Loaded & { code: number | null; out: string; err: string }> {
  const record = join(scratchDir('nd-loading-'), 'loaded.json')
  const run = await runCli(args, { ...env, MODULE_RECORDER_FILE: record }, ['--require', join(fixtures, 'module-recorder.cjs')])
  const { files, builtins } = JSON.parse(readFileSync(record, 'utf8')) as { files: string[]; builtins: string[] }
  const ours = files.filter((f) => f.startsWith(`${root}/`)).map((f) => f.slice(root.length + 1))
  const text = ours.filter((f) => /\.c?js$/.test(f)).map((f) => readFileSync(join(root, f), 'latin1')).join('\n')
  const commandsParsed = COMMANDS.filter((c) => text.includes(`Usage: node-daemonize ${c} `))
  return { ...run, files: ours, commandsParsed, builtins }
}

const STREAMS = ['net', 'tty', 'stream', 'child_process', 'worker_threads']

/** The compile cache's set-up, loaded only where Node has a compile cache (Node >= 22.1). */
const COMPILE_CACHE = typeof (process.getBuiltinModule('node:module') as { enableCompileCache?: unknown }).enableCompileCache === 'function' ? ['dist/cli-compile-cache.cjs'] : []

/** The CLI's files a command loads: the dispatcher and that command's own bundle, nothing shared. */
function cliFiles(r: Loaded): string[] {
  return r.files.filter((f) => f.startsWith('dist/')).sort()
}
/**
 * The commands bin/node-daemonize.js requires directly (issue 23, fourth
 * pass): their own bundle and nothing else, not even the dispatcher.
 */
const DIRECT = ['status', 'stop', 'start', 'list', 'logs']
const ownBundle = (command: string) => [...(DIRECT.includes(command) ? [] : ['dist/cli.cjs']), ...COMPILE_CACHE, `dist/cli-${command}.cjs`].sort()

describe('hardening round 2 / issue 23: a command loads only what it uses', () => {
  it('status and stop of a saved name that is not running parse only their own command, no pino, no streams', async () => {
    const env = names().env
    await startNamed([join(fixtures, 'lifecycle-hup.js'), '--name', 'stopped'], env)
    const stopped = await runCli(['stop', 'stopped'], env)
    expect(stopped.code, stopped.err).toBe(0)
    for (const command of ['status', 'stop']) {
      const r = await loaded([command, 'stopped'], env)
      expect(r.code, r.err).toBe(command === 'status' ? 3 : 0)
      expect(r.commandsParsed, command).toEqual([command])
      expect(cliFiles(r), command).toEqual(ownBundle(command))
      expect(r.files.filter((f) => f.includes('pino')), command).toEqual([])
      expect(r.builtins.filter((b) => STREAMS.includes(b)), command).toEqual([])
      // speed, third pass: a stop that waits for nothing does not compile
      // node:timers/promises (stop, the name lock and the pid-file lock
      // poll with src/delay.ts)
      expect(r.builtins.filter((b) => b === 'timers/promises'), command).toEqual([])
      // speed, third pass: status signals nothing, so node:os (the signal
      // numbers, src/signals.ts osSignals()) is not compiled; fifth pass:
      // nor does a stop that finds nothing running (SIGTERM is looked up
      // only when there may be something to signal)
      expect(r.builtins, command).not.toContain('os')
      // speed, fourth pass: the CLI's own option parser (src/cli/parse-options.ts), not node:util's
      expect(r.builtins.filter((b) => b.startsWith('internal/util/parse_args')), command).toEqual([])
    }
  })

  it('--help parses no command at all', async () => {
    const r = await loaded(['--help'], process.env)
    expect(r.code, r.err).toBe(0)
    expect(r.commandsParsed).toEqual([])
    expect(cliFiles(r)).toEqual(['dist/cli.cjs'])
    expect(r.files.filter((f) => f.endsWith('.node'))).toEqual([])
  })

  it('status, list and logs of a running daemon: their own command only, and logs loads no tty/net/stream', async () => {
    const env = names().env
    await startNamed([join(fixtures, 'lifecycle-hup.js'), '--name', 'loading'], env)
    for (const args of [['status', 'loading'], ['list'], ['logs', 'loading', '-n', '5']]) {
      const r = await loaded(args, env)
      expect(r.code, r.err).toBe(0)
      expect(r.commandsParsed, args[0]).toEqual([args[0]])
      expect(cliFiles(r), args[0]).toEqual(ownBundle(args[0]))
      expect(r.files.filter((f) => f.includes('pino')), args[0]).toEqual([])
      expect(r.builtins.filter((b) => STREAMS.includes(b)), args[0]).toEqual([])
      // speed, third pass: logs without --follow makes no AbortController (Node
      // loads its abort machinery for the first one), nothing waits on a timer
      expect(r.builtins.filter((b) => b === 'internal/abort_controller' || b === 'timers/promises'), args[0]).toEqual([])
      if (args[0] !== 'list') expect(r.builtins, args[0]).not.toContain('os')
      expect(r.builtins.filter((b) => b.startsWith('internal/util/parse_args')), args[0]).toEqual([])
    }
  })

  it('start parses no other command (the launcher, not the unit writer or the list table)', async () => {
    const env = names().env
    const record = await loaded(['start', join(fixtures, 'lifecycle-hup.js'), '--name', 'started', '--json'], env)
    expect(record.code, record.err).toBe(0)
    track((JSON.parse(record.out) as { pid: number }).pid)
    expect(record.commandsParsed).toEqual(['start'])
    // (and pino: a named daemon's launch writes its stage lines into its log
    // file; and the pid file's and the name's part, dist/cli-lazy-pidfile.cjs)
    expect(cliFiles(record).filter((f) => f !== 'dist/cli-pino.cjs')).toEqual([...ownBundle('start'), 'dist/cli-lazy-pidfile.cjs'].sort())
  })

  it('issue 23, fourth pass: a start without a pid file loads its own bundle only, not the pid file\'s part', async () => {
    const record = await loaded(['start', join(fixtures, 'lifecycle-hup.js'), '--json'], process.env)
    expect(record.code, record.err).toBe(0)
    track((JSON.parse(record.out) as { pid: number }).pid)
    expect(cliFiles(record)).toEqual(ownBundle('start'))
  })

  // Issue 23, fifth pass: code only a rarer way through a command uses is
  // a file of its own (dist/cli-lazy-*.cjs, scripts/build.mjs syncParts),
  // required when that way is taken, and only then (the tests above: a
  // running daemon's status, a stopped one's stop and a plain start load
  // their own bundle alone).
  it('issue 23, fifth pass: a start with sockets loads the listen and sockets parts', async () => {
    const dir = scratchDir('nd-loading-sock-')
    const record = await loaded(['start', join(fixtures, 'lifecycle-hup.js'), '--listen', `unix:${dir}/s.sock`, '--json'], process.env)
    expect(record.code, record.err).toBe(0)
    track((JSON.parse(record.out) as { pid: number }).pid)
    expect(cliFiles(record)).toEqual([...ownBundle('start'), 'dist/cli-lazy-listen.cjs', 'dist/cli-lazy-sockets.cjs'].sort())
  })

  it('issue 23, fifth pass: a failed start loads the failure part, to word its error', async () => {
    const record = await loaded(['start', join(fixtures, 'daemon-self-kill.js'), '--startup-grace', '2s'], process.env)
    expect(record.code).toBe(1)
    expect(record.err).toMatch(/killed by SIGKILL/)
    expect(cliFiles(record)).toEqual([...ownBundle('start'), 'dist/cli-lazy-failure.cjs'].sort())
  })

  it('issue 23, fifth pass: status of a dead service loads the dead service\'s part (what it left running)', async () => {
    const env = names().env
    const { result } = await startNamed([join(fixtures, 'lifecycle-hup.js'), '--name', 'killed'], env)
    process.kill(result.pid as number, 'SIGKILL')
    // dead once its lock is free: the pid file stays behind
    let r = await loaded(['status', 'killed'], env)
    for (let i = 0; i < 100 && r.code !== 1; i++) {
      await new Promise((done) => setTimeout(done, 20))
      r = await loaded(['status', 'killed'], env)
    }
    expect(r.code, r.out).toBe(1)
    expect(r.out).toMatch(/dead: pid file .* but its lock is free/)
    expect(cliFiles(r)).toEqual([...ownBundle('status'), 'dist/cli-lazy-dead.cjs'].sort())
  })

  it('issue 23, fifth pass: status of a supervised service loads the supervised view (its state in words, its instances)', async () => {
    const env = names().env
    await startNamed([join(fixtures, 'lifecycle-hup.js'), '--name', 'supervised', '--respawn', '--instances', '2'], env)
    const r = await loaded(['status', 'supervised'], env)
    expect(r.code, r.err).toBe(0)
    expect(r.out).toMatch(/2 instances/)
    expect(cliFiles(r)).toEqual([...ownBundle('status'), 'dist/cli-lazy-supervised.cjs'].sort())
    const stopped = await runCli(['stop', 'supervised'], env)
    expect(stopped.code, stopped.err).toBe(0)
  })

  it('issue 23, fifth pass: a stop that finds its daemon running loads the stop part (signal, wait, remove the files)', async () => {
    const env = names().env
    await startNamed([join(fixtures, 'lifecycle-hup.js'), '--name', 'tostop'], env)
    const r = await loaded(['stop', 'tostop'], env)
    expect(r.code, r.err).toBe(0)
    expect(r.out).toMatch(/stopped pid \d+ with SIGTERM/)
    expect(cliFiles(r)).toEqual([...ownBundle('stop'), 'dist/cli-lazy-stop.cjs'].sort())
  })
})
