// `node-daemonize status --pid-file P [--json]`: the daemon's state from its
// pid file, with LSB's status exit codes. Reads only: never creates the pid
// file, never takes its lock.
import { status } from '../lifecycle.js'
import { parseCommandLine, printOut, requirePidFile } from './args.js'

export const usage = `Usage: node-daemonize status --pid-file FILE [--json]

Report whether the daemon whose pid file is FILE is running. The file is
opened read-only and its lock only tested, so this never disturbs a start.

Options:
  --pid-file FILE   the daemon's pid file (required)
  --json            print {state, code, pid, pidFile, message} as JSON
  -h, --help        show this help

Exit status (LSB): 0 running (or starting), 1 dead but the pid file exists
(stale: its lock is free), 3 not running (no pid file), 4 unknown (the pid
file is unreadable, not a regular file, a symlink or hard link, or holds no
pid), 2 invalid arguments.`

interface Values {
  'pid-file'?: string
  json?: boolean
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals, rest } = parseCommandLine<Values>(args, {
    'pid-file': { type: 'string' },
    json: { type: 'boolean' },
  })
  const pidFile = requirePidFile(values, positionals, rest)
  const s = status(pidFile)
  if (values.json) printOut(JSON.stringify(s))
  else printOut(s.message)
  return s.code
}
