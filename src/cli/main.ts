// The `node-daemonize` dispatcher: finds the command, loads only its module,
// and turns what it returns or throws into an exit code.
//
// Command module contract (src/cli/<command>.ts):
//
//   export const usage: string
//     The command's full help text, starting with `Usage: node-daemonize <command> ...`.
//     main prints it on `<command> --help` / `-h` (before any `--`), so run()
//     never sees those flags.
//
//   export async function run(args: string[]): Promise<number>
//     args: everything after the command name, verbatim. Returns the exit
//     code: 0 ok (status: LSB 0/1/3/4). Parse with parseCommandLine() from
//     ./args.js (util.parseArgs, strict) and throw UsageError for bad
//     arguments, anything else (a DaemonizeError) for a failure: main reports
//     both the one way every command fails (report.ts: `node-daemonize
//     <command>: <message>` on stderr, and with --json one JSON shape on
//     stdout) and exits with the status report.ts decides: 2 for a usage
//     error (a UsageError, or a DaemonizeError at stage `options`), 3 for a
//     graceful restart still pending, else 1. Write results to stdout (printOut from
//     ./args.js writes to the fd without loading Node's streams); never call
//     process.exit().
//
// Each module is a bundle of its own with everything it uses
// (dist/cli-<command>.cjs: scripts/build.mjs), loaded only when its command
// runs, so `--help` or `status` never pay for `start`'s imports, and a
// command loads one file besides this one (each file Node loads costs
// ~0.3 ms of its own); the commands run now and then share one bundle
// (more.ts). The commands scripts run again and again (status, stop, start,
// list, logs) do not even load this file: bin/node-daemonize.js requires
// their bundle, which runs them through the same command.ts. A new command
// is one more entry in `commands` (the build
// bundles each file the dispatcher import()s). The help texts are imported
// statically; the compile cache set-up (dist/cli-compile-cache.cjs) only
// where Node has a compile cache, so Node 20 never loads it.
import { EXIT_OK, printOut, UsageError, wantsJson } from './args.js'
import { commandSetUp, compileCacheModule, runCommand, type CommandModule } from './command.js'
import { reportError, reportUsageError } from './report.js'
import { mainUsage, version } from './help.js'

export type { CommandModule } from './command.js'
export { finish } from './command.js'

const commands: Record<string, () => Promise<CommandModule>> = {
  start: () => import('./start.js'),
  stop: () => import('./stop.js'),
  status: () => import('./status.js'),
  restart: async () => (await import('./more.js')).restart,
  reload: async () => (await import('./more.js')).reload,
  list: () => import('./list.js'),
  logs: () => import('./logs.js'),
  unit: async () => (await import('./more.js')).unit,
  remove: async () => (await import('./more.js')).remove,
  run: async () => (await import('./more.js')).run,
}

/**
 * Where Node offers a compile cache (>= 22.1) and none is on yet, turn it on
 * (compile-cache.ts) before the command's bundle loads.
 */
async function compileCache(): Promise<void> {
  const api = compileCacheModule()
  if (typeof api?.enableCompileCache !== 'function' || api.getCompileCacheDir?.() !== undefined) return
  ;(await import('./compile-cache.js')).useCompileCache()
}

/** Run the command line (without node and the script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  commandSetUp()
  const [first, ...rest] = argv
  const json = wantsJson(argv)
  const usageError = (message: string) => reportUsageError(undefined, new UsageError(message), json)
  if (first === undefined) return usageError('missing command (start, run, stop, status, restart, reload, list, logs, unit or remove)')
  if (first === '--help' || first === '-h') {
    printOut(mainUsage)
    return EXIT_OK
  }
  if (first === '--version' || first === '-V') {
    printOut(version())
    return EXIT_OK
  }
  if (first === 'help') return help(rest[0], json)
  if (first.startsWith('-')) return usageError(`unknown option '${first}' (the command comes first)`)
  const load = Object.hasOwn(commands, first) ? commands[first] : undefined
  if (load === undefined) return usageError(`unknown command '${first}'`)

  let mod: CommandModule
  try {
    await compileCache()
    mod = await load()
  } catch (err) {
    return reportError(first, err, json)
  }
  return runCommand(first, mod, rest, json)
}

/** `node-daemonize help [command]`. */
async function help(name: string | undefined, json: boolean): Promise<number> {
  if (name === undefined || name === '--help' || name === '-h') {
    printOut(mainUsage)
    return EXIT_OK
  }
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined
  if (load === undefined) return reportUsageError(undefined, new UsageError(`unknown command '${name}'`), json)
  printOut((await load()).usage)
  return EXIT_OK
}
