// The options a caller may give a launch (daemonize(), and the CLI's
// start, which maps each flag to one), and the constants that bound them.
// Checked and resolved into one value by resolve.ts.
import type { RespawnMode, RespawnOptions } from './respawn.js'

export interface DaemonizeOptions {
  /** The script the daemon runs (must be an existing, readable regular file). */
  entry: string
  /** Arguments after the entry, passed verbatim (a Buffer: these exact bytes). */
  args?: (string | Buffer)[]
  /** Node options before the entry, e.g. ['--enable-source-maps']. */
  execArgv?: string[]
  /** The program to exec. Default: process.execPath. */
  execPath?: string
  /** The daemon's environment, replacing the caller's. Default: process.env. */
  env?: Record<string, string | Buffer | undefined>
  /** Start from an empty environment with a sane PATH (SAFE_PATH); `env` entries are added to it. */
  clearEnv?: boolean
  /** The daemon's working directory. Default '/'. */
  cwd?: string
  /** The daemon's umask. Default 0o022. */
  umask?: number
  /** stdout and stderr, appended (created 0640). Default (and '/dev/null'): no log, stdout/stderr on /dev/null. */
  logFile?: string
  /** A pid file, locked for the daemon's whole life. */
  pidFile?: string
  /** Wait until the daemon calls ready(), at most this long. 0: do not wait. */
  waitReadyMs?: number
  /** Without readiness: watch this long for a crash at start-up. Default 0. */
  startupGraceMs?: number
  /** When waitReadyMs runs out, leave the daemon running instead of killing it. */
  keepOnTimeout?: boolean
  /** Load the daemon-side preload (env clean-up, log reopen on SIGHUP). Default true. */
  preload?: boolean
  /** Run as this user (name or uid); root only. */
  user?: string | number
  /** Run as this group (name or gid); default: the user's primary group. */
  group?: string | number
  /** Allow core dumps. Default false: RLIMIT_CORE is 0. */
  coreDumps?: boolean
  /** RLIMIT_NOFILE, soft and hard. */
  maxOpenFiles?: number
  /** Under systemd, send MAINPID=<daemon> and READY=1 once the daemon is up. Default false. */
  notifySystemd?: boolean
  /**
   * Restart the daemon when it dies, from a small C supervisor (the pid file
   * then names the supervisor; needs pidFile). true, a mode, or the policy:
   * see RespawnOptions and docs/supervision.md. Default: no supervisor.
   */
  respawn?: boolean | RespawnMode | RespawnOptions
  /**
   * With respawn: run this many generations side by side (1..64, or 'max':
   * the CPUs this process may use, its affinity mask lowered to a cgroup CPU
   * quota), all on the same `listen` sockets, each
   * restarted on its own; each gets its index 0..N-1 in
   * NODE_DAEMONIZE_INSTANCE (instance() of node-daemonize/daemon).
   */
  instances?: number | 'max'
  /**
   * A name for the daemon (letters, digits, '_', '.', '-'): the pid file and
   * the log get default paths in the standard directories unless given, and
   * the start spec is saved, so that stop, status, restart, list and logs
   * find it by name (docs/names.md).
   */
  name?: string
  /**
   * Listening sockets the launcher opens as the caller before anything is
   * spawned, passed as fds 3.. with systemd's LISTEN_* variables:
   * 'tcp:PORT', 'tcp:HOST:PORT', 'tcp:[V6]:PORT', 'unix:PATH', each with an
   * optional ',name=NAME' (docs/sockets.md).
   */
  listen?: string[]
  /** Hand on the sockets this process was itself started with (LISTEN_PID is our pid), before `listen`'s. */
  listenInherited?: boolean
}

/** PATH under clearEnv: system directories only, nothing relative or user-writable. */
export const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
/**
 * The lowest RLIMIT_NOFILE accepted. The limit is set before the entry check,
 * while the daemon still holds the helper's fds 0-8, so a lower one fails
 * there with EMFILE; Node itself aborts at start-up below about 20.
 */
export const MIN_OPEN_FILES = 16

/**
 * The null device as a log means no log file: the same /dev/null the daemon
 * gets without one (not a regular file, so openLog in launch/log-file.ts would refuse it).
 */
export const NULL_DEVICE = '/dev/null'
