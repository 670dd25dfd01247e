// `node-daemonize run` under test: started in a new PID namespace
// (`unshare --pid --fork --mount-proc`, where the supervisor is PID 1) or
// directly, its output collected, its events (JSON lines on stderr) parsed,
// and its supervisor found from outside by its name in /proc.
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterEach } from 'vitest'
import { fixtures } from './caller.js'
import { cliBin } from './cli.js'
import { killChildren, track } from './daemons.js'
import { childrenOf, procStat } from './proc.js'
import { until } from './wait.js'

export const runApp = join(fixtures, 'run-app.mjs')

/** What an init is called in /proc/<pid>/comm: ours. */
export const SUPERVISOR_COMM = 'nd-supervisor'

export interface RunProc {
  child: ChildProcess
  /** The supervisor's pid as seen from here (outside the namespace). */
  pid: number
  out(): string
  err(): string
  /** The supervisor's JSON event lines on stderr. */
  events(): Record<string, unknown>[]
  /** The exit status of `run` (through unshare, which exits with its child's). */
  exit: Promise<number | null>
}

const children: ChildProcess[] = []

/** Call at the top of a test file. */
export function cleanUpRuns(): void {
  afterEach(async () => {
    await killChildren(children)
  })
}

/** The lines of `text` that parse as JSON objects. */
export function jsonLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      out.push(JSON.parse(line) as Record<string, unknown>)
    } catch {
      // a line cut short: not ours to judge here
    }
  }
  return out
}

/** The descendant of `pid` (itself included) whose comm is `comm`, or undefined. */
export function descendantNamed(pid: number, comm: string): number | undefined {
  try {
    if (procStat(pid).comm === comm) return pid
  } catch {
    return undefined
  }
  for (const c of childrenOf(pid)) {
    const found = descendantNamed(c, comm)
    if (found !== undefined) return found
  }
  return undefined
}

/**
 * Start `node-daemonize run ...args` (ns: as PID 1 of a new PID namespace
 * with its own /proc; `prefix`: a command to run it under, e.g. the pty
 * driver), and wait until the supervisor runs (its comm) and the app wrote
 * its first line.
 */
export async function startRun(args: string[], how: { ns?: boolean; env?: NodeJS.ProcessEnv; waitApp?: boolean; argv?: string[] } = {}): Promise<RunProc> {
  const cli = how.argv ?? [process.execPath, cliBin, 'run', ...args]
  const argv = how.ns ? ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child', ...cli] : cli
  const child = spawn(argv[0], argv.slice(1), { env: how.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let out = ''
  let err = ''
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s))
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s))
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  const pid = await until(`the supervisor of run ${args.join(' ')}`, () => descendantNamed(child.pid as number, SUPERVISOR_COMM), {
    seen: () => ({ out, err }),
  })
  track(pid)
  if (how.waitApp !== false) await until('the app to start', () => out.includes('token '), { seen: () => ({ out, err }) })
  return { child, pid, out: () => out, err: () => err, events: () => jsonLines(err), exit }
}

/** The tokens the app wrote, one per app started. */
export function tokens(out: string): string[] {
  return [...out.matchAll(/^token ([0-9a-f]+)/gm)].map((m) => m[1])
}
