// One command run from its own bundle: what the dispatcher (main.ts) does
// once it has found the command, shared by it and by the hot commands'
// bundles, which bin/node-daemonize.js requires directly (no dispatcher
// file to load: each file Node loads costs ~0.3 ms, and the dispatcher's
// own start-up as much again).
import { EXIT_OK, outputThroughStreams, printErr, printOut, wantsHelp, wantsJson } from './args.js'
import { reportFailure } from './report.js'
import { euidIsFixed } from '../proc/euid.js'
import { addonIfLoaded } from '../addon-registry.js'
import type { Native } from '../native.js'

export interface CommandModule {
  usage: string
  run(args: string[]): Promise<number>
}

/**
 * Process warnings (e.g. the launcher's log lines lost on a full disk) as
 * one line each on stderr, said the CLI's way: Node's own handler adds a
 * second line about --trace-warnings. NODE_NO_WARNINGS / --no-warnings
 * still silence them. Set up when the first warning is emitted, not
 * before: a command that warns about nothing (nearly every run) does not
 * pay for swapping listeners (~0.2 ms of cold EventEmitter code). Node
 * emits a warning's event on a later tick than process.emitWarning() is
 * called, so the one-line listener is in place by then.
 */
export function warningsOnOneLine(): void {
  const emitWarning = process.emitWarning
  process.emitWarning = function (this: unknown, ...args: unknown[]) {
    process.emitWarning = emitWarning
    warned = true
    oneLineListener()
    return Reflect.apply(emitWarning, this, args) as void
  } as typeof process.emitWarning
}

/** Whether a warning was emitted: Node prints it on a later tick. */
let warned = false

function oneLineListener(): void {
  const nodeDefault = process.listeners('warning')
  if (nodeDefault.length === 0) return // warnings are off
  for (const l of nodeDefault) process.off('warning', l)
  process.on('warning', (w) => printErr(`node-daemonize: warning: ${w.message}`))
}

/** The process set-up every command runs under, before its module runs. */
export function commandSetUp(): void {
  // The CLI never changes its own uid (the helper drops privileges, and
  // `run` replaces this process): one geteuid(2) for the whole command.
  euidIsFixed()
  warningsOnOneLine()
  watchStdioStreams()
  // The CLI's own compile cache setting: never passed on to a daemon (compile-cache.ts).
  delete process.env.NODE_COMPILE_CACHE
}

/** `<command> --help`, or run it: its exit code, every failure reported the one way (report.ts). */
export async function runCommand(command: string, mod: CommandModule, rest: string[], json: boolean): Promise<number> {
  if (wantsHelp(rest)) {
    printOut(mod.usage)
    return EXIT_OK
  }
  try {
    return await mod.run(rest)
  } catch (err) {
    return reportFailure(command, err, json)
  }
}

/** The whole command line (its name first), as a command's own bundle runs it. */
export function commandMain(command: string, mod: CommandModule, argv: string[]): Promise<number> {
  commandSetUp()
  return runCommand(command, mod, argv.slice(1), wantsJson(argv))
}

/**
 * Whether process.stdin, stdout or stderr was made since commandSetUp():
 * Node makes each on first use, and a stream may hold bytes not yet
 * written, or have set O_NONBLOCK on a descriptor the shell shares, which
 * Node's teardown puts back.
 */
let stdioStreamMade = false

function watchStdioStreams(): void {
  for (const name of ['stdin', 'stdout', 'stderr'] as const) {
    const d = Object.getOwnPropertyDescriptor(process, name)
    const get = d?.get
    if (d === undefined || get === undefined || d.configurable !== true) {
      stdioStreamMade = true // cannot be watched: taken as made
      continue
    }
    Object.defineProperty(process, name, {
      ...d,
      get() {
        stdioStreamMade = true
        return get.call(process)
      },
    })
  }
}

/**
 * Whether Node writes something at its teardown that this run asked for: a
 * profile, coverage, a trace, a report (options on the command line or in
 * NODE_OPTIONS, NODE_V8_COVERAGE).
 */
function teardownWrites(): boolean {
  if (process.env.NODE_V8_COVERAGE !== undefined) return true
  const nodeOptions = process.env.NODE_OPTIONS ?? ''
  // Nearly every run: no option at all (and no regular expression compiled, ~40 µs).
  if (process.execArgv.length === 0 && nodeOptions === '') return false
  return /prof|trace|report|coverage|snapshot|inspect/.test(`${process.execArgv.join(' ')} ${nodeOptions}`)
}

/**
 * The end of a CLI run, once its command resolved to `code`. With nothing
 * left in flight Node would end anyway, but only after its teardown: the
 * heap, the environment, the addon, the platform's threads joined, the
 * C++ destructors and atexit handlers (~1 ms here). Not while anything is:
 * bytes a stream still holds for stdout or stderr (a full pipe), a warning
 * Node prints on a later tick, a handle, a request or a timer: Node then
 * ends the usual way, after them. (The addon's own fd watchers are not
 * among the handles Node lists: every command closes its watchers before
 * it resolves.)
 *
 * With the addon loaded already (every command but `--help` and the usage
 * errors) it ends with _exit(2) (the addon's exitNow): every line this run
 * printed went out with write(2), so nothing is left to flush. Not when
 * something asked to run at exit (an 'exit' listener), when a stdio stream
 * was made or a stdio descriptor is non-blocking, or when Node is to write
 * a profile or coverage at its teardown: process.exit(), which does all of
 * that. A compile cache (Node >= 22) is flushed first.
 */
export function finish(code: number): void {
  process.exitCode = code
  if (warned || outputThroughStreams()) return
  const busy = process.getActiveResourcesInfo()
  if (busy.length === 0) exitNow(code)
  // Immediates only (after a garbage collection, Node queues one to run
  // N-API finalizers): look again once they have run.
  else if (busy.every((r) => r === 'Immediate')) setImmediate(finish, code)
}

function exitNow(code: number): void {
  const addon = addonIfLoaded<Partial<Pick<Native, 'exitNow'>>>()
  if (typeof addon?.exitNow === 'function' && !stdioStreamMade && process.listenerCount('exit') === 0 && !teardownWrites() && compileCacheWritten()) {
    addon.exitNow(code)
  }
  process.exit(code)
}

/** What node:module offers of its compile cache (Node >= 22.1; flushCompileCache from 22.10). */
export interface CompileCacheModule {
  enableCompileCache?: (dir: string) => unknown
  getCompileCacheDir?: () => string | undefined
  flushCompileCache?: () => void
}

/**
 * node:module where Node may have a compile cache (>= 22), else undefined:
 * Node 20 has none, and is not asked (its first node:module costs ~0.3 ms,
 * as bin/node-daemonize.js says).
 */
export function compileCacheModule(): CompileCacheModule | undefined {
  return Number(process.versions.node.split('.')[0]) < 22 ? undefined : (process.getBuiltinModule('node:module') as CompileCacheModule)
}

/**
 * Node >= 22's compile cache (the CLI's own, or NODE_COMPILE_CACHE's) is
 * written to disk by Node's at-exit hook, which _exit(2) skips: written
 * now (module.flushCompileCache), or false where that cannot be (Node
 * 22.1 to 22.9: then process.exit()).
 */
function compileCacheWritten(): boolean {
  const m = compileCacheModule()
  if (m?.getCompileCacheDir?.() === undefined) return true
  if (typeof m.flushCompileCache !== 'function') return false
  m.flushCompileCache()
  return true
}
