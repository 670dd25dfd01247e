// `node-daemonize start <entry> [options] [-- args...]`: every daemonize()
// option as a kebab-case flag. Arguments after `--` go to the program
// verbatim; nothing here ever involves a shell.
import { type Daemon, launchStart } from '../launch/daemonize.js'
import { resolveStart, type Start } from '../launch/start.js'
import { DaemonizeError } from '../errors.js'
import { checkName } from '../names/paths.js'
import { listenGiven } from '../options/listen-given-part.js'
import { type DaemonizeOptions, MIN_OPEN_FILES } from '../options/daemonize-options.js'
import {
  EXIT_OK,
  parseCommandLine,
  type ParseOptions,
  parseDuration,
  parseEnvPair,
  parseUmask,
  parsePositiveInt,
  printOut,
  UsageError,
} from './args.js'
import { rawArgs, rawEnvironment, rawEnvValue } from './raw.js'
import { normalizeRespawnArgs, parseInstances, parseMaxMemory, parseRespawnValues, respawnOptions, respawnUsage, type RespawnValues } from './respawn-args.js'

/** start's options, one block: `restart --help` shows the same. */
export const startOptionsText = `  --name NAME             name the daemon: the pid file and log default to
                          the standard directories, and the start is saved,
                          so stop/status/reload/restart/logs NAME work and
                          list shows it (letters, digits, _ . -; see
                          docs/names.md)
  --log-file FILE         append stdout and stderr to FILE (created 0640);
                          default (and --log-file /dev/null): no log; with
                          --name: the standard log directory (root with
                          --user: a directory there of that user's own, 0750)
  --pid-file FILE         write the daemon's pid to FILE, locked for its life;
                          refuses to start a second one; with --name:
                          default in the standard run directory
  --cwd DIR               working directory of the daemon (default /)
  --umask MODE            octal umask of the daemon, e.g. 027 (default 022)
  --env NAME=VALUE        set a variable in the daemon's environment
                          (repeatable; adds to this shell's environment)
  --clear-env             start from an empty environment with a standard PATH;
                          --env adds to it
  --exec-arg ARG          a Node.js option before the entry (repeatable),
                          e.g. --exec-arg=--enable-source-maps
  --exec-path FILE        the program to execute (default: this node)
  --wait-ready DURATION   wait until the daemon calls ready(); fail (and stop
                          it) if it exits first or the time runs out
  --startup-grace DURATION
                          without --wait-ready, fail if the daemon dies within
                          this window (default 1s; 0 returns at exec)
  --keep-on-timeout       leave the daemon running when --wait-ready runs out
  --no-preload            do not load the daemon-side preload (log reopen on
                          SIGHUP, NODE_DAEMONIZE_* clean-up)
  --user NAME|UID         run as this user (root only)
  --group NAME|GID        run as this group (default: the user's)
  --listen SPEC           open a listening socket as the caller, before anything
                          is spawned, and pass it as systemd does (fds 3..,
                          LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES); repeatable, in
                          order. SPEC: tcp:PORT (every address, IPv6 dual-stack),
                          tcp:HOST:PORT, tcp:[IPV6]:PORT or unix:PATH (owner
                          --user, mode 0666 & ~umask; every directory on PATH
                          owned by root or you and writable by nobody else
                          unless sticky), each with an optional ,name=NAME
                          (see docs/sockets.md)
  --listen-inherited      pass on the sockets this process was started with by
                          systemd (LISTEN_PID is its pid), names included,
                          before the --listen ones
  --core-dumps            allow core dumps (default: RLIMIT_CORE 0)
  --max-open-files N      set RLIMIT_NOFILE (soft and hard) to N (at least 16)
  --ok-if-running         exit 0 when the pid file shows it already running
  --json                  print the result as JSON on stdout
  -q, --quiet             print nothing on success
  -h, --help              show this help`

export const usage = `Usage: node-daemonize start <entry> [--name NAME] [options] [-- args...]

Start <entry> (a Node.js script) as a daemon: in its own session, not a
session leader, with no controlling terminal, cwd /, stdin /dev/null and
stdout/stderr appended to the log file. Returns once the daemon has exec'd
(and survived the start-up grace, or called ready() with --wait-ready).
Arguments after '--' are passed to the program verbatim.

Options:
${startOptionsText}

${respawnUsage}

Durations: a bare number is seconds; or 500ms, 5s, 1.5s, 2m; 0 or at
least 1ms.
Exit status: 0 started (or already running with --ok-if-running),
1 the start failed or was refused (already running; or processes of its
previous start still run, its supervisor killed: stop ends them),
2 invalid arguments (a malformed value, or one the
options check refuses: a unix: path too long or given twice, ...); output
that cannot be written (a closed pipe) does not change it.`

/** parseArgs options of `start` (and `restart`, which takes the same). */
export const startOptions = {
  name: { type: 'string' },
  'log-file': { type: 'string' },
  'pid-file': { type: 'string' },
  cwd: { type: 'string' },
  umask: { type: 'string' },
  env: { type: 'string', multiple: true },
  'clear-env': { type: 'boolean' },
  'exec-arg': { type: 'string', multiple: true },
  'exec-path': { type: 'string' },
  'wait-ready': { type: 'string' },
  'startup-grace': { type: 'string' },
  'keep-on-timeout': { type: 'boolean' },
  'no-preload': { type: 'boolean' },
  user: { type: 'string' },
  group: { type: 'string' },
  'core-dumps': { type: 'boolean' },
  listen: { type: 'string', multiple: true },
  'listen-inherited': { type: 'boolean' },
  'max-open-files': { type: 'string' },
  'ok-if-running': { type: 'boolean' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  ...respawnOptions,
} as const

interface StartValues extends RespawnValues {
  name?: string
  'log-file'?: string
  'pid-file'?: string
  cwd?: string
  umask?: string
  env?: string[]
  'clear-env'?: boolean
  'exec-arg'?: string[]
  'exec-path'?: string
  'wait-ready'?: string
  'startup-grace'?: string
  'keep-on-timeout'?: boolean
  'no-preload'?: boolean
  user?: string
  group?: string
  'core-dumps'?: boolean
  listen?: string[]
  'listen-inherited'?: boolean
  'max-open-files'?: string
  'ok-if-running'?: boolean
  json?: boolean
  quiet?: boolean
}

/** Variables that describe the user; under --user the target's are set. */
export const USER_VARS = ['HOME', 'USER', 'LOGNAME'] as const

/** The CLI's grace: Node takes ~60-120 ms to start, so a shorter window closes before user code runs. */
export const DEFAULT_STARTUP_GRACE_MS = 1000

export interface StartRequest {
  options: DaemonizeOptions
  /** The entry as given, for messages. */
  entryArg: string
  okIfRunning: boolean
  json: boolean
  quiet: boolean
  /** What the command line itself set, for a restart that updates a saved spec (restart.ts). */
  given: GivenStart
}

export interface GivenStart {
  /** The options set by a flag (not entry, args or env). */
  keys: Set<keyof DaemonizeOptions>
  /** An entry was given. */
  entry: boolean
  /** `--` was given: the program's arguments (maybe none). */
  args: boolean
  /** The --env pairs, in order. */
  envPairs: [string, string | Buffer][]
  clearEnv: boolean
}

/** What a command that takes start's options (start, restart, unit) gets from its command line. */
export interface StartCommandLine<E> {
  request: StartRequest
  /** The values of the command's own options (`extraOptions`). */
  values: E
}

/**
 * Command line -> daemonize() options; throws UsageError. With entryOptional
 * (restart of a saved spec), a missing entry is '' in the options.
 */
export function parseStartArgs(args: string[], how: { entryOptional?: boolean } = {}): StartRequest {
  return parseStartCommandLine(args, {}, how).request
}

/**
 * start's options, plus `extraOptions` (a command's own, in parseArgs'
 * form), parsed in one strict pass; throws UsageError.
 */
export function parseStartCommandLine<E extends object = object>(
  args: string[],
  extraOptions: ParseOptions = {},
  { entryOptional = false, foreground = false }: { entryOptional?: boolean; foreground?: boolean } = {},
): StartCommandLine<E> {
  const {
    values: parsed,
    positionals,
    options: found,
  } = parseCommandLine<StartValues & E>(normalizeRespawnArgs(args), { ...startOptions, ...extraOptions })
  // `run` (cli/run.ts) takes --stop-timeout without --respawn, and has no pid file: its own.
  const v = foreground ? { ...parsed, 'stop-timeout': undefined } : parsed
  // The program's arguments and --env values go through as the bytes given,
  // UTF-8 or not (see raw.ts).
  const raw = rawArgs(args)
  const dashes = args.indexOf('--')
  const rest = dashes === -1 ? [] : raw.slice(dashes + 1)
  const envRaw = found
    .filter((o) => o.name === 'env')
    .map((o) => rawEnvValue(o.inlineValue ? raw[o.index] : raw[o.index + 1], o.inlineValue))
  if (positionals.length === 0 && !entryOptional) throw new UsageError('missing <entry>: the script to run as a daemon')
  if (positionals.length > 1) {
    throw new UsageError(`unexpected argument '${positionals[1]}' (arguments for the program go after '--')`)
  }
  const entryArg = positionals[0] ?? ''
  if (entryArg === '' && positionals.length > 0) throw new UsageError('<entry> must not be empty')

  const options: DaemonizeOptions = { entry: entryArg, args: rest }
  if (v.name !== undefined) options.name = checkNameArg(v.name)
  if (v['log-file'] !== undefined) options.logFile = nonEmpty('--log-file', v['log-file'])
  if (v['pid-file'] !== undefined) options.pidFile = nonEmpty('--pid-file', v['pid-file'])
  if (v.cwd !== undefined) options.cwd = nonEmpty('--cwd', v.cwd)
  if (v.umask !== undefined) options.umask = parseUmask('--umask', v.umask)
  if (v['exec-arg'] !== undefined) options.execArgv = v['exec-arg']
  if (v['exec-path'] !== undefined) options.execPath = nonEmpty('--exec-path', v['exec-path'])
  if (v.user !== undefined) options.user = nonEmpty('--user', v.user)
  if (v.group !== undefined) options.group = nonEmpty('--group', v.group)
  if (v['max-open-files'] !== undefined) {
    const n = parsePositiveInt('--max-open-files', v['max-open-files'])
    // Below this the daemon cannot even be set up (Node itself aborts under ~20).
    if (n < MIN_OPEN_FILES) throw new UsageError(`--max-open-files must be at least ${MIN_OPEN_FILES}, got ${n}`)
    options.maxOpenFiles = n
  }
  if (v['core-dumps']) options.coreDumps = true
  if (v.listen !== undefined) options.listen = v.listen.map(checkListenSpec)
  if (v['listen-inherited']) options.listenInherited = true
  if (v['no-preload']) options.preload = false

  if (v['wait-ready'] !== undefined) options.waitReadyMs = parseDuration('--wait-ready', v['wait-ready'])
  if (v['startup-grace'] !== undefined) options.startupGraceMs = parseDuration('--startup-grace', v['startup-grace'])
  if (v['keep-on-timeout']) {
    if (!options.waitReadyMs) throw new UsageError('--keep-on-timeout only applies with --wait-ready')
    options.keepOnTimeout = true
  }

  const pairs: [string, string | Buffer][] = (v.env ?? []).map((e, i) => {
    const [k, val] = parseEnvPair('--env', e)
    return [k, envRaw[i] ?? val]
  })
  const inherited = v['clear-env'] ? undefined : rawEnvironment(process.env)
  if (v['clear-env']) {
    // The API starts from PATH=SAFE_PATH and adds `env`.
    options.clearEnv = true
    options.env = Object.fromEntries(pairs)
  } else if (pairs.length > 0 || inherited !== undefined) {
    // `env` replaces the environment in the API; --env adds to ours. The
    // caller's HOME/USER/LOGNAME are left out under --user, so the target
    // user's are set (an explicit --env HOME=... still wins).
    const env: Record<string, string | Buffer | undefined> = { ...(inherited ?? process.env) }
    if (options.user !== undefined) for (const k of USER_VARS) delete env[k]
    for (const [k, val] of pairs) env[k] = val
    options.env = env
  }
  const respawn = parseRespawnValues(v)
  if (respawn !== undefined) {
    if (options.pidFile === undefined && options.name === undefined && !entryOptional && !foreground) {
      throw new UsageError('--respawn needs --pid-file or --name: stop and status find the supervisor through it')
    }
    options.respawn = respawn
  }
  // Its need for respawn is checked with the options (a restart's may come from the spec).
  const instances = v.instances === undefined ? undefined : parseInstances(v.instances)
  if (instances !== undefined) options.instances = instances
  const maxMemory = v['max-memory'] === undefined ? undefined : parseMaxMemory(v['max-memory'])
  if (maxMemory !== undefined) options.maxMemoryBytes = maxMemory
  const keys = new Set(Object.keys(options) as (keyof DaemonizeOptions)[])
  for (const k of ['entry', 'args', 'env', 'clearEnv'] as const) keys.delete(k)
  if (!foreground) {
    options.startupGraceMs ??= DEFAULT_STARTUP_GRACE_MS
    // Under systemd the launcher tells it which process the service is.
    if (process.env.NOTIFY_SOCKET) options.notifySystemd = true
  }

  const given: GivenStart = { keys, entry: positionals.length > 0, args: dashes !== -1, envPairs: pairs, clearEnv: v['clear-env'] === true }
  const request = { options, entryArg, okIfRunning: v['ok-if-running'] === true, json: v.json === true, quiet: v.quiet === true, given }
  return { request, values: parsed }
}

/** A bad --listen is a usage error (exit 2), with the parser's message. */
function checkListenSpec(text: string): string {
  try {
    listenGiven().parseListenSpec(text)
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  return text
}

function nonEmpty(flag: string, value: string): string {
  if (value === '') throw new UsageError(`${flag} must not be empty`)
  return value
}

/** --name, checked as the API checks it, but as a usage error. */
export function checkNameArg(name: string): string {
  try {
    return checkName(name)
  } catch (err) {
    throw new UsageError(`--name: ${(err as Error).message}`)
  }
}

/** What `start` prints on success. */
export function describeStart(entryArg: string, d: Daemon): string {
  let line = `started ${d.name === undefined ? entryArg : `${d.name} (${entryArg})`} as pid ${d.pid} (session ${d.sid})`
  if (d.ready) line += ', ready'
  line += `, log ${d.logFile ?? '/dev/null'}`
  if (d.pidFile !== undefined) line += `, pid file ${d.pidFile}`
  return line
}

/**
 * daemonize() with the CLI's output: the exit code, or the DaemonizeError
 * (main reports it). `jsonExtra` is merged into the --json result. `start`:
 * the request's options already resolved (a restart resolves them before
 * it stops the old daemon).
 */
export async function startDaemon(req: StartRequest, jsonExtra: Record<string, unknown> = {}, start?: Start): Promise<number> {
  let daemon: Daemon
  try {
    daemon = await launchStart(start ?? resolveStart(req.options))
  } catch (err) {
    if (req.okIfRunning && err instanceof DaemonizeError && err.code === 'EALREADY') {
      if (req.json) printOut(JSON.stringify({ alreadyRunning: true, pid: err.pid ?? null, pidFile: err.path, ...jsonExtra }))
      else if (!req.quiet) printOut(`node-daemonize: ${err.message}`)
      return EXIT_OK
    }
    throw err
  }
  if (req.json) printOut(JSON.stringify({ ...daemon, ...jsonExtra }))
  else if (!req.quiet) printOut(describeStart(req.entryArg, daemon))
  return EXIT_OK
}

export async function run(args: string[]): Promise<number> {
  return startDaemon(parseStartArgs(args))
}
