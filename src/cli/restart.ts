// `node-daemonize restart <entry> --pid-file FILE [start options] [-- args...]`:
// stop the daemon named by the pid file (if any), then start it again with
// exactly the arguments `start` takes.
import { stop } from '../stop.js'
import { preflight } from '../preflight.js'
import { printOut, UsageError } from './args.js'
import { parseStartArgs, startDaemon, startOptionsText } from './start.js'

export const usage = `Usage: node-daemonize restart <entry> --pid-file FILE [options] [-- args...]

Stop the daemon whose pid file is FILE (SIGTERM, then SIGKILL after 10s;
nothing happens when it is not running), then start <entry> exactly as
'node-daemonize start' does. Every option is checked before anything is
stopped, so a typo never leaves the service down.
--pid-file is required; the options are those of start:
${startOptionsText}

Durations: a bare number is seconds; or 500ms, 5s, 1.5s, 2m.
Exit status: 0 restarted, 1 the stop or the start failed, 2 invalid arguments.`

export async function run(args: string[]): Promise<number> {
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
