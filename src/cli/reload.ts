// `node-daemonize reload NAME|--pid-file P`: SIGHUP to the daemon, only when it
// catches SIGHUP (HUP's default action would kill it).
import { reload } from '../control/reload.js'
import { EXIT_OK, parseCommandLine, pidFileCommandOptions, type PidFileCommandValues, printResult } from './args.js'
import { resolveTarget } from './target.js'

export const usage = `Usage: node-daemonize reload NAME [--json]
       node-daemonize reload --pid-file FILE [--json]

Send SIGHUP to the daemon named NAME (started with --name), or the one
whose pid file is FILE, after checking that the
pid in it is the process holding the file's lock and that it catches SIGHUP
(SigCgt in /proc/<pid>/status). A daemon that does not would be killed by
SIGHUP's default action, so reload refuses and says so. The daemon-side
preload (on by default) catches SIGHUP and reopens the log file.

Options:
  --pid-file FILE   the daemon's pid file (instead of NAME)
  --json            print {pid, message} (or the error) as JSON
  -q, --quiet       print nothing on success
  -h, --help        show this help

Exit status: 0 SIGHUP sent; 1 refused (not running, does not catch SIGHUP,
pid file unusable); 2 invalid arguments.`

export async function run(args: string[]): Promise<number> {
  const { values, positionals, rest } = parseCommandLine<PidFileCommandValues>(args, pidFileCommandOptions)
  const { pidFile } = resolveTarget(values, positionals, rest) as { pidFile: string }
  printResult(reload(pidFile), values)
  return EXIT_OK
}
