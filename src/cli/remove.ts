// `node-daemonize remove NAME [--logs] [--json]`: stop the named daemon if
// it runs, then forget the name (names/remove.ts).
import { removeName } from '../names/remove.js'
import { EXIT_OK, parseCommandLine, printResult, UsageError } from './args.js'
import { nameArg } from './target.js'

export const usage = `Usage: node-daemonize remove NAME [--logs] [--json]

Stop the daemon named NAME if it runs (as stop does: the same checks, the
same refusals), then forget the name: its saved spec, its pid file, lock
file and state file, and the name's lock, so that list no longer shows it
and restart NAME no longer knows it. Only these known files are removed,
each only if it is a regular file with one link and its owner is the
expected one; anything else is left, and said. A start NAME meanwhile waits
for the remove to end, then starts afresh.

Options:
  --logs       remove its log file too (never a symbolic link put in its
               place, never a rotated one), and the per-name log directory
               of a daemon run as a service user (--user) once it is empty
  --json       print the result as JSON: {name, wasRunning, pid, stopped,
               removed, left, message}
  -q, --quiet  print nothing on success
  -h, --help   show this help

A name that has no spec is an error (ENOENT, exit 1), as pm2 delete's is:
a typo in a script should not pass for a removal. A name is this user's
own (root's: the system's); another user's is never reached.

Exit status: 0 removed; 1 no such name, the stop failed or was refused
(nothing was removed), or a file could not be removed; 2 invalid arguments.`

interface Values {
  logs?: boolean
  json?: boolean
  quiet?: boolean
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals, rest } = parseCommandLine<Values>(args, {
    logs: { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
  })
  if (rest.length > 0 || positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1] ?? '--'}'`)
  if (positionals.length === 0) throw new UsageError('which daemon? give its NAME')
  printResult(await removeName(nameArg(positionals[0]), { logs: values.logs }), values)
  return EXIT_OK
}
