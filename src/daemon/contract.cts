// The contract between the launcher and the daemon side, in one place: the
// environment variables the launcher sets (NODE_DAEMONIZE_*), the global
// symbol the preload keeps them on, and the contract's version. No imports:
// the preload (CommonJS, in every daemon) loads this and nothing else.
//
// The version changes whenever a variable changes name or meaning, so that
// a daemon started by one version of the package and handled by the next
// (an upgrade between two generations) is told apart, not misread: the
// daemon side takes the variables only when NODE_DAEMONIZE_CONTRACT is its
// own version, and says so when it is not.

/** Every variable the package owns in a daemon's environment starts with this. */
export const ENV_PREFIX = 'NODE_DAEMONIZE_'

/** The version of this contract, set by the launcher in NODE_DAEMONIZE_CONTRACT. */
export const CONTRACT_VERSION = '1'

/** The variables, without the prefix (as the preload keeps them). */
export const CONTRACT = 'CONTRACT'
/** The daemon's log file, for reopenLogs() and the preload's SIGHUP handler. */
export const LOG_FILE = 'LOG_FILE'
/** The fd of the ready pipe, when the launcher waits for ready(). */
export const READY_FD = 'READY_FD'

/** The index of this instance, 0..N-1, when the service runs --instances N (kept across its respawns). */
export const INSTANCE = 'INSTANCE'

/** Symbol.for(STATE_KEY) on globalThis: where the preload keeps the variables it took out of process.env. */
export const STATE_KEY = 'node-daemonize.daemon'

/** The full variable name of one of the contract's names. */
export function envName(name: string): string {
  return ENV_PREFIX + name
}

/**
 * Why the variables cannot be read under this contract (`found`: the
 * NODE_DAEMONIZE_CONTRACT the daemon was started with), or undefined when
 * they can.
 */
export function contractMismatch(found: string | undefined): string | undefined {
  if (found === CONTRACT_VERSION) return undefined
  const started = found === undefined ? 'a launcher that sets no contract version' : `launcher contract ${found}`
  return (
    `this daemon was started by another version of node-daemonize (${started}; this one speaks contract ` +
    `${CONTRACT_VERSION}): its ${ENV_PREFIX}* variables are not read; restart it with this version`
  )
}
