// One command run from its own bundle: what the dispatcher (main.ts) does
// once it has found the command, shared by it and by the hot commands'
// bundles, which bin/node-daemonize.js requires directly (no dispatcher
// file to load: each file Node loads costs ~0.3 ms, and the dispatcher's
// own start-up as much again).
import { EXIT_OK, outputThroughStreams, printErr, printOut, wantsHelp, wantsJson } from './args.js'
import { reportFailure } from './report.js'
import { euidIsFixed } from '../proc/euid.js'

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
 * The end of a CLI run, once its command resolved to `code`. With nothing
 * left in flight Node would end at once anyway, but only after tearing down
 * its heap, its environment and the addon (~0.2-0.7 ms here, more for
 * start): exit instead. Not while anything is: bytes a stream still holds
 * for stdout or stderr (a full pipe), a warning Node prints on a later tick,
 * a handle, a request or a timer: Node then ends the usual way, after them.
 * (The addon's own fd watchers are not among the handles Node lists: every
 * command closes its watchers before it resolves.)
 */
export function finish(code: number): void {
  process.exitCode = code
  if (warned || outputThroughStreams()) return
  const busy = process.getActiveResourcesInfo()
  if (busy.length === 0) process.exit(code)
  // Immediates only (after a garbage collection, Node queues one to run
  // N-API finalizers): look again once they have run.
  else if (busy.every((r) => r === 'Immediate')) setImmediate(finish, code)
}
