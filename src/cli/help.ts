// The top-level help and the version: the only texts main prints itself.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../package-root.js'

export const mainUsage = `Usage: node-daemonize <command> [options]

Run a Node.js program as a real Unix daemon, and manage it by name or by its pid file.

Commands:
  start <entry> [options] [-- args...]   start <entry> as a daemon (--name NAME
                                         to manage it by name)
  run <entry> [options] [-- args...]     run <entry> in the foreground under a small
                                         C supervisor (a container's PID 1)
  stop NAME | --pid-file FILE            stop the daemon
  status NAME | --pid-file FILE          is it running? (LSB exit codes 0/1/3/4)
  restart NAME [options]                 stop, then start from its saved spec
  restart <entry> --pid-file FILE [...]  stop, then start (options of start)
  reload NAME | --pid-file FILE          send SIGHUP (reopens the log) if caught
  list [--json]                          every named daemon, with its state
  logs NAME [-n 50] [-f]                 the last lines of its log; -f follows
  unit NAME | <entry> [start options]    print (or --install) systemd units that run
                                         the same service under systemd itself
  remove NAME [--logs]                   stop it if it runs, then forget the name
                                         (spec, pid file; --logs: its log too)

Options:
  -h, --help       show this help; 'node-daemonize <command> --help' for a command
  -V, --version    show the version

Exit status: 0 ok, 1 failure, 2 invalid arguments; restart --graceful:
3 the wait ended before the verdict (the restart goes on; status shows
its outcome); status: 0 running, 1 dead but pid file exists, 3 not
running, 4 unknown.`

/** The package's version, from its package.json. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }
  return pkg.version
}
