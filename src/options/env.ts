// The daemon's environment: the caller's (or the given one), made for the
// daemon's user, without what only this launch may set, and with the
// contract's variables for the daemon side (daemon/contract.cts).
import { addon } from '../addon.js'
import { CONTRACT, CONTRACT_VERSION, ENV_PREFIX, envName, INSTANCE, LOG_FILE, READY_FD } from '../daemon/contract.cjs'
import { optionError } from '../errors.js'
import { type DaemonizeOptions, SAFE_PATH } from './daemonize-options.js'
import { isListenVar } from './listen.js'
import type { Credentials } from './user.js'
import { checkBytes, checkString } from './values.js'

/** Variables that describe the user; set for the target user when the ids change. */
const USER_VARS = ['HOME', 'USER', 'LOGNAME'] as const

/**
 * The daemon's environment: `env` (or the caller's), or with clearEnv only
 * SAFE_PATH plus `env`; then HOME/USER/LOGNAME for the target user; then
 * ours. NODE_DAEMONIZE_*, NOTIFY_SOCKET and systemd's LISTEN_* never come
 * from outside (LISTEN_* describe this launch's sockets; the plan adds them);
 * nor does an inherited NODE_COMPILE_CACHE.
 */
export function buildEnv(
  options: DaemonizeOptions,
  launch: { logFile?: string; waitReady: boolean; credentials?: Credentials; nsockets: number; instances?: number },
): (string | Buffer)[] {
  const given = options.env
  if (given !== undefined && (given === null || typeof given !== 'object' || Array.isArray(given))) {
    throw optionError('env must be an object of strings')
  }
  if (options.clearEnv !== undefined && typeof options.clearEnv !== 'boolean') {
    throw optionError(`clearEnv must be a boolean, got ${typeof options.clearEnv}`)
  }
  const source = options.clearEnv ? { PATH: SAFE_PATH, ...given } : (given ?? process.env)
  const env: Record<string, string | Buffer> = {}
  for (const [k, v] of Object.entries(source)) {
    if (v === undefined || k.startsWith(ENV_PREFIX) || k === 'NOTIFY_SOCKET' || isListenVar(k)) continue
    // The caller's V8 compile cache is its own: a daemon (maybe another
    // user's) must not run code from it, nor write there. Given in `env`, it stays.
    if (k === 'NODE_COMPILE_CACHE' && source === process.env) continue
    if (k.includes('=') || k === '') throw optionError(`env key '${k}' is not a valid variable name`)
    env[checkString(`env key`, k)] = checkBytes(`env.${k}`, v)
  }
  const creds = launch.credentials
  if (creds) {
    // Inherited values describe the caller, not the daemon's user: replace
    // them with the target's, or drop them when the uid has no passwd entry.
    // Values given in `env` win.
    const myUid = process.getuid?.() ?? 0
    for (const k of USER_VARS) {
      if (given?.[k] !== undefined) continue
      if (creds.user) env[k] = k === 'HOME' ? creds.user.home : creds.user.name
      else if (creds.uid !== myUid) delete env[k]
    }
  }
  // Our variables come with the version of the contract they follow.
  if (launch.logFile !== undefined) env[envName(LOG_FILE)] = launch.logFile
  if (launch.waitReady) env[envName(READY_FD)] = String(daemonReadyFd() + launch.nsockets)
  // The instance slot: placeholder digits each generation overwrites with
  // its index between fork and exec (native/protocol.h ND_INSTANCE_PREFIX).
  if (launch.instances !== undefined) env[envName(INSTANCE)] = '00'
  if (launch.logFile !== undefined || launch.waitReady || launch.instances !== undefined) env[envName(CONTRACT)] = CONTRACT_VERSION
  return Object.entries(env).map(([k, v]) => (typeof v === 'string' ? `${k}=${v}` : Buffer.concat([Buffer.from(`${k}=`), v])))
}

/** The daemon's fd of the ready pipe without sockets, as the helper sets it up (each socket shifts it by one). */
function daemonReadyFd(): number {
  return addon().constants.ND_DAEMON_FD_READY
}
