// `node-daemonize stop NAME|--pid-file P [--signal TERM] [--timeout 10s] [--json]`:
// signal the daemon through a pidfd, wait for it, SIGKILL it after the
// timeout, remove the pid file under its lock. Exits 0 also when it was not
// running, as LSB asks of `stop`.
import { stop } from '../control/stop.js'
import { resolveSignal } from '../signals.js'
import { EXIT_OK, parseCommandLine, parseDuration, pidFileCommandOptions, type PidFileCommandValues, printResult, UsageError } from './args.js'
import { resolveTarget } from './target.js'

export const usage = `Usage: node-daemonize stop NAME [--signal TERM] [--timeout 10s] [--json]
       node-daemonize stop --pid-file FILE [...]

Stop the daemon named NAME (started with --name; its saved spec names its
pid file), or the one whose pid file is FILE: check that the pid in it is the
process holding the file's lock, send it the signal, wait for it to exit,
send SIGKILL if it is still there after the timeout, then remove the pid
file. A stale pid file (lock free) names no daemon: nothing is signalled,
but what the launch record identifies (start time and uid) as still running
is stopped: the generation a supervisor killed with SIGKILL left behind
(with --instances, every instance's, each named), then, with SIGKILL, what runs as the service's user in its session, then
what is left in the service's cgroup (cgroup.kill), whose cgroups are then
removed. Until then, start refuses.

When the pid no longer holds the lock (the daemon handed its lock fd to
another process and exited), the processes that hold it are stopped the
same way and the files removed, but only if each runs as the service's
user recorded at launch and none is a start in progress; otherwise stop
refuses, names them, and signals nothing. A process that does not hold the
lock is never signalled.

Options:
  --pid-file FILE      the daemon's pid file (instead of NAME)
  --signal SIG         the first signal: a name (TERM, SIGINT) or a number
                       (default TERM)
  --timeout DURATION   how long to wait before SIGKILL (default 10s);
                       a bare number is seconds, or 500ms, 5s, 2m (0 or at
                       least 1ms). Under a
                       --respawn supervisor: SIGTERM goes to it, and stop
                       waits its --stop-timeout + 5s (or a longer --timeout)
                       before it kills the whole session
  --json               print the result as JSON
  -q, --quiet          print nothing on success
  -h, --help           show this help

Exit status: 0 stopped, or was not running; 1 the pid file is unusable, the
daemon could not be confirmed or stopped, or the lock's holders are not the
service's to stop; 2 invalid arguments.`

interface Values extends PidFileCommandValues {
  signal?: string
  timeout?: string
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals, rest } = parseCommandLine<Values>(args, {
    ...pidFileCommandOptions,
    signal: { type: 'string' },
    timeout: { type: 'string' },
  })
  const { pidFile } = resolveTarget(values, positionals, rest) as { pidFile: string }
  // (none given: stop()'s SIGTERM, looked up only when there is something to signal)
  let signal: number | undefined
  if (values.signal !== undefined) {
    try {
      signal = resolveSignal(values.signal).num
    } catch (err) {
      throw new UsageError(`--signal: ${(err as Error).message}`)
    }
  }
  // Without --timeout: the API's default (and, under a supervisor, the supervisor's own stop timeout + 5 s).
  const timeoutMs = values.timeout === undefined ? undefined : parseDuration('--timeout', values.timeout)
  printResult(await stop(pidFile, { signal, timeoutMs }), values)
  return EXIT_OK
}
