// `node-daemonize restart NAME [options] [-- args...]`, or
// `restart [<entry>] --pid-file FILE [options] [-- args...]`: stop the
// daemon (if it runs), then start it again. A named daemon (or one whose
// pid file a saved spec names) starts again from its spec, with what the
// command line changes; the spec is then rewritten, so it stays the one
// source of truth.
// `node-daemonize restart --graceful NAME|--pid-file FILE`: hand over to a
// new generation once it is ready, under the service's supervisor
// (control/graceful.ts).
import { status } from '../control/status.js'
import { nameDirs, namePaths } from '../names/paths.js'
import type { DaemonizeOptions } from '../options/daemonize-options.js'
import { preflight } from '../launch/preflight.js'
import { resolveStart } from '../launch/start.js'
import { findSpec, findSpecByPidFile, noSuchName, type LoadedSpec } from '../names/spec.js'
import { stop } from '../control/stop.js'
import { handOver } from '../control/graceful.js'
import { EXIT_OK, parseCommandLine, parseDuration, pidFileCommandOptions, type PidFileCommandValues, printErr, printOut, printResult, shellWord, UsageError } from './args.js'
import { parseStartArgs, startDaemon, startOptionsText, type StartRequest, USER_VARS } from './start.js'
import { nameArg, resolveTarget } from './target.js'

export const usage = `Usage: node-daemonize restart NAME [options] [-- args...]
       node-daemonize restart [<entry>] --pid-file FILE [options] [-- args...]
       node-daemonize restart <entry> --name NAME [options] [-- args...]
       node-daemonize restart --graceful NAME | --pid-file FILE [--timeout DURATION] [--json]

Stop the daemon (SIGTERM, then SIGKILL after 10s; nothing happens when it
is not running), then start it again. Every option is checked before
anything is stopped, so a typo never leaves the service down. The stop is
stop's: processes that hold the lock after the daemon handed it on are
stopped too when they run as the service's user (see stop --help).

A daemon started with --name restarts from its saved spec: the same entry,
arguments, environment and options, with only what this command line
gives changed (an <entry>, arguments after '--', --env added to the saved
environment, any other option); the spec is then updated. A plain
restart NAME of a running service saved with --respawn, --listen and
--wait-ready (nothing changed) is the graceful restart described below
(with --instances N > 1, the rolling one). A --pid-file
that a saved spec names finds that spec too. Without a spec, <entry> is
required and the options are those of start:
${startOptionsText}

With --graceful (a service started with --respawn and --wait-ready,
usually with --listen): no entry and no other start option. The
supervisor starts a new generation from the service's own command line
(so the code now on disk is what starts) alongside the running one, on the
same sockets; once the new one calls ready() (within --wait-ready), the
old one gets SIGTERM and drains (SIGKILL after --stop-timeout). If the new
one exits or misses readiness, it is stopped, the old one keeps serving,
and restart exits 1 with the reason and the log's last lines. A second
graceful restart while one is in progress is refused; one asked while the
replaced generation still drains waits for it first. The same as sending
SIGUSR2 to the supervisor (the pid in the pid file). Changing options
needs a full restart.

With --instances N > 1 it is a rolling restart: one instance at a time, in
index order, the new one ready before the old one gets SIGTERM and drains,
then the next (drains may overlap). A new one that fails stops the roll
there: the instances after it keep their generation, restart exits 1 and
says which instances run which release (--json: error.instances). The wait
is printed on stderr first.
  --timeout DURATION   how long to wait for the supervisor's verdict
                       (default: 30s + N x (the --wait-ready timeout + 10s)
                       + the --stop-timeout, N the instances); when it ends
                       first, the restart goes on and restart exits 3

Durations: a bare number is seconds; or 500ms, 5s, 1.5s, 2m; 0 or at
least 1ms.
Exit status: 0 restarted (--graceful: the new generation serves),
1 the stop or the start failed (--graceful: the restart was refused or
failed, and the old generation still serves), 2 invalid arguments,
3 (--graceful, or a restart NAME that is graceful) the wait ended before
the verdict: the restart goes on and may still complete, and
'node-daemonize status' shows its outcome (not LSB's 3 of status).`

interface GracefulValues extends PidFileCommandValues {
  graceful?: boolean
  timeout?: string
}

async function runGraceful(args: string[]): Promise<number> {
  const dashDash = args.indexOf('--')
  if ((dashDash === -1 ? args : args.slice(0, dashDash)).some((a) => a === '--instances' || a.startsWith('--instances='))) {
    throw new UsageError('--graceful takes no --instances: the service keeps the instances it was started with (a rolling restart replaces each); changing them needs a full restart')
  }
  const { values, positionals, rest } = parseCommandLine<GracefulValues>(args, {
    ...pidFileCommandOptions,
    graceful: { type: 'boolean' },
    timeout: { type: 'string' },
  })
  if (rest.length > 0 || positionals.length > 1 || (positionals.length === 1 && values['pid-file'] !== undefined)) {
    throw new UsageError(
      `--graceful takes no entry, arguments or start options: the new generation runs the service's command line as it was started (changing it needs a full restart); unexpected '${positionals.at(-1) ?? '--'}'`,
    )
  }
  const { pidFile } = resolveTarget(values, positionals, rest) as { pidFile: string }
  const timeoutMs = values.timeout === undefined ? undefined : parseDuration('--timeout', values.timeout)
  printResult(await handOver(pidFile, { timeoutMs }, statusCommand(positionals[0], pidFile), sayWait(values)), values)
  return EXIT_OK
}

/** A rolling restart's wait for its verdict, said on stderr before it starts (stdout stays the result's, --json too). */
function sayWait(o: { quiet?: boolean }): (waitMs: number, instances: number) => void {
  return (waitMs, instances) => {
    if (!o.quiet) printErr(`rolling restart of ${instances} instances, one at a time: waiting up to ${Math.ceil(waitMs / 1000)} s for the verdict`)
  }
}

/** The command that shows a pending graceful restart's outcome: `status NAME`, or `status --pid-file FILE`. */
function statusCommand(name: string | undefined, pidFile: string): string {
  return `node-daemonize status ${name !== undefined ? shellWord(name) : `--pid-file ${shellWord(pidFile)}`}`
}

/** The saved options with the command line's changes on top. */
export function mergeSpec(saved: DaemonizeOptions, req: StartRequest): DaemonizeOptions {
  const out: DaemonizeOptions = { ...saved }
  const given = req.options as unknown as Record<string, unknown>
  const into = out as unknown as Record<string, unknown>
  for (const k of req.given.keys) into[k] = given[k]
  if (req.given.entry) out.entry = req.options.entry
  if (req.given.args) out.args = req.options.args
  if (req.given.clearEnv) {
    out.clearEnv = true
    out.env = Object.fromEntries(req.given.envPairs)
  } else {
    const env = { ...saved.env }
    // A new --user: the saved HOME/USER/LOGNAME described the old one; the launch sets the new user's.
    if (userChanged(saved, req)) for (const k of USER_VARS) delete env[k]
    out.env = { ...env, ...Object.fromEntries(req.given.envPairs) }
  }
  // A default log follows the user (root gives a service user its own log
  // directory): one the spec has from the defaults is chosen again.
  if (userChanged(saved, req) && !req.given.keys.has('logFile') && saved.name !== undefined && isDefaultLog(saved.name, saved.logFile)) {
    delete out.logFile
  }
  if (req.options.notifySystemd) out.notifySystemd = true
  return out
}

function userChanged(saved: DaemonizeOptions, req: StartRequest): boolean {
  return req.given.keys.has('user') && String(req.options.user) !== String(saved.user)
}

/** Is this log one of the name's default paths (with or without a service user's directory)? */
function isDefaultLog(name: string, logFile: string | undefined): boolean {
  const dirs = nameDirs()
  return logFile === namePaths(dirs, name, true).logFile || logFile === namePaths(dirs, name, false).logFile
}

/**
 * The spec this restart is about: by --name, by the one positional when
 * there is neither --name nor --pid-file, or through the index by
 * --pid-file. undefined: a plain pid-file restart, as before names.
 */
function findTarget(req: StartRequest): LoadedSpec | undefined {
  const { name, pidFile } = req.options
  if (name !== undefined) {
    const spec = findSpec(name)
    if (spec === undefined && !req.given.entry) throw noSuchName(name)
    return spec
  }
  if (pidFile !== undefined) {
    const spec = findSpecByPidFile(pidFile)
    if (spec === undefined && !req.given.entry) throw new UsageError(`no saved spec names the pid file ${pidFile}: give the <entry> to start`)
    return spec
  }
  if (!req.given.entry) throw new UsageError('which daemon? give its NAME, or <entry> with --pid-file FILE')
  // `restart NAME`: the positional is the name, not an entry.
  const byName = nameArg(req.entryArg)
  req.given.entry = false
  const spec = findSpec(byName)
  if (spec === undefined) {
    const err = noSuchName(byName)
    err.message += '; to restart a script by its pid file, give --pid-file FILE'
    throw err
  }
  return spec
}

/**
 * `restart NAME` (or `--pid-file FILE` with a spec) of a running
 * `--respawn --listen --wait-ready` service, with nothing on the command
 * line that changes it, is the graceful restart: the supervisor starts the
 * new generation beside the old one, on the same sockets, and the old one
 * serves until the new one is ready. A restart that changes anything (an
 * entry, arguments, an environment variable, an option) is a full stop +
 * start, since the supervisor runs the command line it was started with.
 * undefined: restart by stop + start.
 */
async function restartGracefullyWhenItCan(spec: LoadedSpec | undefined, req: StartRequest): Promise<number | undefined> {
  const saved = spec?.options
  if (saved === undefined || saved.pidFile === undefined) return undefined
  if (saved.respawn === undefined || saved.respawn === false || !saved.listen?.length || saved.waitReadyMs === undefined) return undefined
  const { given } = req
  if (given.keys.size > 0 || given.entry || given.args || given.envPairs.length > 0 || given.clearEnv) return undefined
  if (status(saved.pidFile).state !== 'running') return undefined
  printResult(await handOver(saved.pidFile, {}, statusCommand(saved.name, saved.pidFile), sayWait(req)), req)
  return EXIT_OK
}

export async function run(args: string[]): Promise<number> {
  const dashDash = args.indexOf('--')
  if ((dashDash === -1 ? args : args.slice(0, dashDash)).includes('--graceful')) return runGraceful(args)
  const req = parseStartArgs(args, { entryOptional: true })
  const spec = findTarget(req)
  if (spec !== undefined) {
    req.options = mergeSpec(spec.options, req)
    if (!req.given.entry) req.entryArg = spec.options.entry
  }
  const pidFile = spec?.options.pidFile ?? req.options.pidFile
  if (pidFile === undefined && req.options.name === undefined) {
    throw new UsageError('--pid-file or a NAME is required: it names the daemon to stop')
  }

  // Everything start would refuse is refused before the old daemon is
  // stopped: the options are resolved and checked as start checks them, and
  // preflight runs the daemon's own steps up to exec in a dry run, without
  // creating anything. The start after the stop runs that same resolved start.
  const start = resolveStart(req.options)
  await preflight(start)
  const graceful = await restartGracefullyWhenItCan(spec, req)
  if (graceful !== undefined) return graceful
  const stopped = pidFile === undefined ? undefined : await stop(pidFile)
  if (stopped !== undefined && !req.json && !req.quiet) printOut(stopped.message)
  return startDaemon(req, stopped === undefined ? {} : { stop: stopped }, start)
}
