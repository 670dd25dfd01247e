// `node-daemonize status NAME|--pid-file P [--json]`: the daemon's state from its
// pid file, with LSB's status exit codes. Reads only: never creates the pid
// file, never takes its lock.
import { DaemonizeError } from '../errors.js'
import { status } from '../control/status.js'
import { supervisedView } from '../control/supervised-view-part.js'
import { parseCommandLine, printOut } from './args.js'
import { resolveTarget } from './target.js'

export const usage = `Usage: node-daemonize status NAME [--json]
       node-daemonize status --pid-file FILE [--json]

Report whether the daemon named NAME (started with --name; a name with no
saved spec is "not running"), or the one whose pid file is FILE, is running. The file is
opened read-only and its lock only tested, so this never disturbs a start.

Options:
  --pid-file FILE   the daemon's pid file (instead of NAME)
  --json            print {state, code, pid, pidFile, message} as JSON
                    (dead: survivors, what still runs that stop ends;
                    lockHolders, who holds the lock; with --respawn,
                    supervisor: its record, with --instances each one's
                    index, phase, pid, uptimeMs, restarts, rssBytes,
                    ready, release, restartInMs in supervisor.instances)
  -h, --help        show this help

A dead service may still have processes running: the generation a
supervisor killed with SIGKILL left behind, what it left in its session, or
the processes holding the lock of a daemon that handed its lock fd on. The
message names them (a recorded pid only while its start time and uid still
match the launch record), and whether stop ends them.

With --instances N the state is "running" while every instance is up and
"degraded (3/4 instances up)" while some are restarting or have given up
(a crash loop, an exit the policy does not restart: the others serve on);
a line per instance follows (index, pid, uptime, restarts, resident memory,
ready, release, phase: up, restarting in Ns, gave up). The service fails
when no instance is left to run.

Exit status (LSB): 0 running, degraded (or starting), 1 dead but the pid file exists
(its lock is free, or held by processes other than its pid), 3 not running
(no pid file), 4 unknown (the pid file is unreadable, not a regular file, a
symlink or hard link, or holds no pid), 2 invalid arguments.`

interface Values {
  'pid-file'?: string
  json?: boolean
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals, rest } = parseCommandLine<Values>(args, {
    'pid-file': { type: 'string' },
    json: { type: 'boolean' },
  })
  let target: ReturnType<typeof resolveTarget>
  try {
    target = resolveTarget(values, positionals, rest, true)
  } catch (err) {
    if (!(err instanceof DaemonizeError)) throw err
    // A spec that cannot be trusted or read: LSB's "unknown".
    const message = `status unknown: ${err.message}`
    if (values.json) printOut(JSON.stringify({ state: 'unknown', code: 4, name: positionals[0], message }))
    else printOut(message)
    return 4
  }
  if ('absent' in target) {
    // No spec: never started by that name (or its spec was removed).
    const message = `not running (${target.absent.message})`
    if (values.json) printOut(JSON.stringify({ state: 'stopped', code: 3, name: target.name, message }))
    else printOut(message)
    return 3
  }
  const s = status(target.pidFile)
  const name = target.spec?.name
  if (values.json) printOut(JSON.stringify(name === undefined ? s : { name, ...s }))
  else {
    printOut(name === undefined ? s.message : `${name}: ${s.message}`)
    // With --instances, while the supervisor runs: a line per instance.
    const list = s.supervisor?.instances
    if (s.code === 0 && list !== undefined && list.length > 1) printOut(supervisedView().instanceLines(list).join('\n'))
  }
  return s.code
}
