// `node-daemonize run <entry> [options] [-- args...]`: the entry in the
// foreground under the C supervisor, which replaces this process (a
// container's PID 1; docs/containers.md). start's options, but for a
// daemon's own, and run's.
import { type HeldSignal, HELD_SIGNALS, runForeground, type RunOptions } from '../launch/run.js'
import { parseDuration, UsageError } from './args.js'
import { parseStartCommandLine } from './start.js'

/** start's flags that only a daemon has. */
const DAEMON_ONLY = ['name', 'pid-file', 'startup-grace', 'ok-if-running', 'json', 'quiet'] as const

export const usage = `Usage: node-daemonize run <entry> [options] [-- args...]

Run <entry> (a Node.js script) in the foreground, as a container's PID 1
wants it: this process becomes a small C supervisor (not Node) whose child
is the app, with start's checklist but no new session (cwd, umask, --user,
sockets, signals). It reaps every process reparented to it, passes HUP,
QUIT, WINCH, USR2 and the others on to the app, stops it on TERM or INT
(TERM, then KILL after --stop-timeout), and exits with the app's status
(128 + the signal that ended it). The app's stdout and stderr are this
process's; the supervisor's own events are JSON lines on stderr. On a
terminal the app gets the foreground: Ctrl-C reaches it once. Refused in a
PID namespace whose /proc is not its own. See docs/containers.md.

Options (as start's, see start --help, but for a daemon's own):
  --cwd DIR               the app's working directory (default: this one)
  --log-file FILE         the app's stdout and stderr and the supervisor's
                          events go to FILE (created 0640); default: this
                          process's stdout and stderr
  --umask MODE, --env NAME=VALUE, --clear-env, --exec-arg ARG, --exec-path FILE,
  --no-preload, --user NAME|UID, --group NAME|GID, --listen SPEC,
  --listen-inherited, --core-dumps, --max-open-files N: as for start
  --wait-ready DURATION   the app calls ready() within this, or it is killed
                          and run exits (1); --keep-on-timeout: it stays
  --stop-timeout D        on TERM or INT, the wait after the app's SIGTERM
                          before SIGKILL (default 10s)
  --forward-signal USR1   pass SIGUSR1 on too; held back by default: it opens
                          Node's inspector on 127.0.0.1:9229, which anything
                          sharing the network namespace (a pod's sidecars)
                          could then drive
  --ready-file PATH       with --wait-ready: made once the app called ready(),
                          removed when it stops or dies, and a stale one
                          removed at start (for a probe: test -f PATH); its
                          directory must be owned by root or you and writable
                          by nobody else unless sticky
  --respawn [MODE]        restart the app when it dies (default: no, the
                          app's end is the run's end: an orchestrator restarts
                          containers); --no-respawn-exit, --respawn-delay,
                          --respawn-max-delay, --respawn-limit, --min-uptime,
                          --instances N and --max-memory SIZE as for start
                          (docs/supervision.md)
  -h, --help              show this help

USR2 is a graceful restart only with --respawn --listen --wait-ready, else
it is passed on. Under systemd (NOTIFY_SOCKET), run sends READY=1 itself
once the app is ready (or has started, without --wait-ready); the app does
not get NOTIFY_SOCKET.

Exit status: the app's: its exit code, 128 + the signal that ended it (143:
a TERM it did not handle, 137: the KILL after --stop-timeout), 0 when it
exited 0 after our TERM; 127 when it could not be started; 1 run was
refused (no namespace /proc, no subreaper, a socket, the log); 2 invalid
arguments.`

export async function run(args: string[]): Promise<number> {
  const { request, values } = parseStartCommandLine<{ 'forward-signal'?: string[]; 'ready-file'?: string; 'stop-timeout'?: string }>(
    args,
    { 'forward-signal': { type: 'string', multiple: true }, 'ready-file': { type: 'string' } },
    { foreground: true },
  )
  for (const f of DAEMON_ONLY) {
    if ((values as Record<string, unknown>)[f] !== undefined) throw new UsageError(`--${f} is not an option of run (a daemon's only)`)
  }
  const { name: _n, pidFile: _p, startupGraceMs: _s, notifySystemd: _ns, ...rest } = request.options
  const options: RunOptions = rest
  if (values['stop-timeout'] !== undefined) options.stopTimeoutMs = parseDuration('--stop-timeout', values['stop-timeout'])
  const forward: HeldSignal[] = []
  for (const s of values['forward-signal'] ?? []) {
    const name = `SIG${s.toUpperCase().replace(/^SIG/, '')}`
    if (!(HELD_SIGNALS as readonly string[]).includes(name)) {
      throw new UsageError(`--forward-signal takes USR1, got '${s}' (every other signal but TERM and INT is passed on already)`)
    }
    forward.push(name as HeldSignal)
  }
  if (forward.length > 0) options.forwardSignals = forward
  if (values['ready-file'] !== undefined) {
    if (values['ready-file'] === '') throw new UsageError('--ready-file must not be empty')
    if (!options.waitReadyMs) throw new UsageError('--ready-file needs --wait-ready: the file says the app called ready()')
    options.readyFile = values['ready-file']
  }
  return runForeground(options)
}
