// The launch protocol's facts as TypeScript sees them: the stages a launch
// can fail at, and the names of the constants the addon exports from
// native/protocol.h. The native ones are copies of the header, kept honest
// by test/protocol-facts.test.ts (the addon's own tables must equal these).
// No imports: errors.ts, native.ts and the CLI take their types from here.

/**
 * The helper's and the daemon's stages, in the order of their ids in
 * protocol.h's ND_STAGES (id = index + 1), as the addon exports them in
 * `native().stages`.
 */
export const NATIVE_STAGES = [
  'plan',
  'setsid',
  'fork',
  'session',
  'umask',
  'rlimit',
  'setgroups',
  'setgid',
  'setuid',
  'credentials',
  'chdir',
  'entry',
  'pidfile',
  'stdio',
  'fds',
  'signals',
  'exec',
  'ready',
  'running',
  'supervise',
] as const

export type NativeStage = (typeof NATIVE_STAGES)[number]

/**
 * The caller's own stages: checked before anything is spawned (options to
 * helper), or the lifecycle commands. `entry` and `pidfile` are also native
 * stages: the caller checks them first, the daemon and the helper again.
 * `name` and `spec`: a daemon's name, its standard directories and its
 * saved start spec (names/paths.ts, names/spec.ts).
 */
export const CALLER_STAGES = ['options', 'entry', 'cwd', 'log', 'pidfile', 'user', 'listen', 'helper', 'stop', 'reload', 'name', 'spec', 'unit', 'graceful', 'remove', 'run'] as const

export type CallerStage = (typeof CALLER_STAGES)[number]

/** Where a launch (or a stop, or a reload) failed. */
export type Stage = CallerStage | NativeStage

const nativeStageSet: ReadonlySet<string> = new Set(NATIVE_STAGES)

/** Is `name` (from a status record) one of the native stages? */
export function isNativeStage(name: string): name is NativeStage {
  return nativeStageSet.has(name)
}

/** The constants the addon exports (`native().constants`), by name. */
export const NATIVE_CONSTANTS = [
  'ND_PLAN_MAGIC',
  'ND_PLAN_VERSION',
  'ND_PLAN_HAS_LOCK',
  'ND_PLAN_WANT_READY',
  'ND_PLAN_KEEP_ON_TIMEOUT',
  'ND_PLAN_SET_IDS',
  'ND_PLAN_SET_NOFILE',
  'ND_PLAN_SET_CORE',
  'ND_PLAN_DRY_RUN',
  'ND_PLAN_FAULT_STOP_AFTER_FORK',
  'ND_PLAN_HAS_PIDFILE',
  /** The helper forks a supervisor (--respawn); a struct nd_respawn_plan follows the groups. */
  'ND_PLAN_RESPAWN',
  /** Tests only: the supervisor acts as if PR_SET_CHILD_SUBREAPER had failed. */
  'ND_PLAN_FAULT_NO_SUBREAPER',
  /** Tests only: the supervisor makes no cgroup per generation (the /proc attribution). */
  'ND_PLAN_FAULT_NO_CGROUP',
  'ND_PLAN_RUN',
  'ND_PLAN_RUN_ONCE',
  'ND_PLAN_RUN_FORWARD_USR1',
  'ND_PLAN_RUN_LOG_FILE',
  'ND_PLAN_RUN_READY_FILE',
  'ND_EVERIFY',
  'ND_EEXITED',
  'ND_ETIMEOUT',
  'ND_EPLAN',
  'ND_EHELPER',
  /** The daemon's fd holding the locked lock file. */
  'ND_DAEMON_FD_LOCK',
  /** The daemon's fd of the ready pipe without sockets (named in the READY_FD variable); N sockets shift it by N. */
  'ND_DAEMON_FD_READY',
  /** The daemon's first passed fd: its sockets are BASE..BASE+N-1 (systemd's layout). */
  'ND_DAEMON_FD_BASE',
  /** At most this many listening sockets in one launch. */
  'ND_PLAN_SOCKETS_MAX',
  /** The placeholder digits of the LISTEN_PID slot, the plan's last env string. */
  'ND_LISTEN_PID_DIGITS',
  /** The highest signal number (64 on Linux). */
  'ND_SIGNAL_LAST',
  /** glibc's reserved signals (32 and 33): not to be set through sigaction(). */
  'ND_SIGNAL_GLIBC_RESERVED_FIRST',
  'ND_SIGNAL_GLIBC_RESERVED_LAST',
  'PLAN_HEADER_SIZE',
  /** sizeof(struct nd_respawn_plan). */
  'RESPAWN_PLAN_SIZE',
  'RECORD_SIZE',
] as const

export type NativeConstants = Record<(typeof NATIVE_CONSTANTS)[number], number>
