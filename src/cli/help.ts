// The top-level help and the version: the only texts main prints itself.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../native.js'

export const mainUsage = `Usage: node-daemonize <command> [options]

Run a Node.js program as a real Unix daemon, and manage it through its pid file.

Commands:
  start <entry> [options] [-- args...]   start <entry> as a daemon
  stop --pid-file FILE [options]         stop the daemon named by FILE
  status --pid-file FILE [options]       is it running? (LSB exit codes 0/1/3/4)
  restart <entry> --pid-file FILE [...]  stop, then start (same options as start)
  reload --pid-file FILE                 send SIGHUP (reopens the log) if it is caught
  unit <entry> [start options] [...]     print (or --install) a systemd unit for the same service

Options:
  -h, --help       show this help; 'node-daemonize <command> --help' for a command
  -V, --version    show the version

Exit status: 0 ok, 1 failure, 2 invalid arguments; status: 0 running,
1 dead but pid file exists, 3 not running, 4 unknown.`

/** The package's version, from its package.json. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }
  return pkg.version
}
