// `node-daemonize restart <entry> --pid-file FILE [start options] [-- args...]`:
// stop the daemon named by the pid file (if any), then start it again with
// exactly the arguments `start` takes.
// `node-daemonize restart --graceful --pid-file FILE`: hand over to a new
// generation once it is ready, under the service's supervisor (graceful.ts).
import { gracefulRestart } from '../graceful.js'
import { stop } from '../stop.js'
import { preflight } from '../preflight.js'
import { EXIT_OK, parseCommandLine, parseDuration, pidFileCommandOptions, type PidFileCommandValues, printOut, printResult, requirePidFile, UsageError } from './args.js'
import { parseStartArgs, startDaemon, startOptionsText } from './start.js'

export const usage = `Usage: node-daemonize restart <entry> --pid-file FILE [options] [-- args...]
       node-daemonize restart --graceful --pid-file FILE [--timeout DURATION] [--json]

Stop the daemon whose pid file is FILE (SIGTERM, then SIGKILL after 10s;
nothing happens when it is not running), then start <entry> exactly as
'node-daemonize start' does. Every option is checked before anything is
stopped, so a typo never leaves the service down.
--pid-file is required; the options are those of start:
${startOptionsText}

With --graceful (a service started with --respawn and --wait-ready,
usually with --listen): no entry and no other start option. The
supervisor starts a new generation from the service's own command line
(so the code now on disk is what starts) alongside the running one, on the
same sockets; once the new one calls ready() (within --wait-ready), the
old one gets SIGTERM and drains (SIGKILL after --stop-timeout). If the new
one exits or misses readiness, it is killed, the old one keeps serving,
and restart exits 1 with the reason and the log's last lines. A second
graceful restart while one is in progress is refused; one asked while the
replaced generation still drains waits for it first. The same as sending
SIGUSR2 to the supervisor (the pid in FILE). Changing options needs a full
restart.
  --timeout DURATION   how long to wait for the supervisor's verdict
                       (default: 30s + the --wait-ready timeout + 10s)

Durations: a bare number is seconds; or 500ms, 5s, 1.5s, 2m.
Exit status: 0 restarted, 1 the stop or the start failed (--graceful: the
restart was refused or failed, and the old generation still serves),
2 invalid arguments.`

interface GracefulValues extends PidFileCommandValues {
  graceful?: boolean
  timeout?: string
}

async function runGraceful(args: string[]): Promise<number> {
  const { values, positionals, rest } = parseCommandLine<GracefulValues>(args, {
    ...pidFileCommandOptions,
    graceful: { type: 'boolean' },
    timeout: { type: 'string' },
  })
  if (positionals.length > 0 || rest.length > 0) {
    throw new UsageError(
      `--graceful takes no entry, arguments or start options: the new generation runs the service's command line as it was started (changing it needs a full restart); unexpected '${positionals[0] ?? '--'}'`,
    )
  }
  const pidFile = requirePidFile(values, positionals, rest)
  const timeoutMs = values.timeout === undefined ? undefined : parseDuration('--timeout', values.timeout)
  printResult(await gracefulRestart(pidFile, { timeoutMs }), values)
  return EXIT_OK
}

export async function run(args: string[]): Promise<number> {
  const dashDash = args.indexOf('--')
  if ((dashDash === -1 ? args : args.slice(0, dashDash)).includes('--graceful')) return runGraceful(args)
  const req = parseStartArgs(args)
  const pidFile = req.options.pidFile
  if (pidFile === undefined) throw new UsageError('--pid-file is required: it names the daemon to stop')

  // Everything start would refuse is refused before the old daemon is
  // stopped: preflight runs start's checks, and the daemon's own steps up to
  // exec in a dry run, without creating anything (daemonize() checks it all
  // again).
  await preflight(req.options)
  const stopped = await stop(pidFile)
  if (!req.json && !req.quiet) printOut(stopped.message)
  return startDaemon(req, { stop: stopped })
}
