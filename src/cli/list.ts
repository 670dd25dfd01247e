// `node-daemonize list [--json]`: every named daemon of this user (root:
// the system's), as a table, or JSON for scripts.
import { escapeControls } from '../escape.js'
import { type ListEntry, listDaemons } from '../names/list.js'
import { formatDuration } from '../duration.js'
import { formatBytes } from '../proc/usage.js'
import { EXIT_OK, parseCommandLine, printOut, UsageError } from './args.js'

export const usage = `Usage: node-daemonize list [--json]

Show every daemon started with --name by this user (as root: the system's
daemons): its name, state, pid (and, with --respawn, the supervisor's),
uptime, restarts, resident memory, CPU use over its life and its log.
Read from the saved specs, the pid files, their locks and /proc; nothing
is changed.

States: running, degraded N/M (with --instances: N of its M instances are
up, the others restarting or given up), starting, restarting, stopping, failed (a --respawn
supervisor gave up), orphaned (dead, yet processes of it still run: what a
supervisor killed with SIGKILL left, or the holders of a lock the daemon
handed on; stop ends those of the service's user), stale (the pid file names
a process that no longer holds its lock, and nothing of it runs), stopped,
unknown (the spec or pid file cannot be used).

Options:
  --json       print an array of {name, state, pid, supervisorPid,
               uptimeMs, restarts, rssBytes, cpuPercent, logFile, pidFile,
               specPath, message}; with --instances also instancesUp
               {up, of} and instances [{index, phase, pid, uptimeMs,
               restarts, rssBytes, ready, release, restartInMs}]
  -h, --help   show this help

Exit status: 0 listed (also when there is none), 1 the directories cannot
be used, 2 invalid arguments.`

/** The rows as a table with aligned columns; the log path last, whole. */
export function formatTable(entries: ListEntry[]): string {
  const head = ['NAME', 'STATE', 'PID', 'SUPERVISOR', 'UPTIME', 'RESTARTS', 'RSS', 'CPU%', 'LOG']
  const rows = entries.map((e) => [
    e.name,
    e.instancesUp !== undefined && e.state === 'degraded' ? `degraded ${e.instancesUp.up}/${e.instancesUp.of}` : e.state,
    e.pid === undefined ? '-' : String(e.pid),
    e.supervisorPid === undefined ? '-' : String(e.supervisorPid),
    e.uptimeMs === undefined ? '-' : formatDuration(e.uptimeMs),
    e.restarts === undefined ? '-' : String(e.restarts),
    formatBytes(e.rssBytes),
    e.cpuPercent === undefined ? '-' : e.cpuPercent.toFixed(1),
    // A path is whatever bytes were given: shown, not obeyed.
    escapeControls(e.logFile ?? '-'),
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()
  return [line(head), ...rows.map(line)].join('\n')
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals, rest } = parseCommandLine<{ json?: boolean }>(args, { json: { type: 'boolean' } })
  if (positionals.length > 0 || rest.length > 0) throw new UsageError(`unexpected argument '${positionals[0] ?? '--'}'`)
  const entries = listDaemons()
  if (values.json) printOut(JSON.stringify(entries))
  else if (entries.length === 0) printOut('no named daemons (start one with: node-daemonize start <entry> --name NAME)')
  else printOut(formatTable(entries))
  return EXIT_OK
}
