export { daemonize, type Daemon, type LaunchWarning } from './daemonize.js'
export type { DaemonizeOptions } from './options.js'
export { DaemonizeError, type Stage } from './errors.js'
export { getsid, getpgid } from './session.js'
export type { StatusRecord } from './status.js'
export {
  status,
  stop,
  reload,
  type LsbStatus,
  type DaemonStatus,
  type StopOptions,
  type StopResult,
  type ReloadResult,
} from './lifecycle.js'
