// The package's public API: daemonize(), the lifecycle actions (status, stop,
// reload), session inspection, and the types and error they use.
export { daemonize, type Daemon, type LaunchWarning } from './daemonize.js'
export type { DaemonizeOptions } from './options.js'
export { DaemonizeError, type Stage } from './errors.js'
export { getsid, getpgid } from './session.js'
export type { StatusRecord } from './status.js'
export { status, reload, type LsbStatus, type DaemonStatus, type ReloadResult } from './lifecycle.js'
export { stop, type StopOptions, type StopResult } from './stop.js'
export { loadSpecByName, type LoadedSpec } from './spec.js'
