// The package's public API: daemonize(), the lifecycle actions (status, stop,
// reload, gracefulRestart), session inspection, and the types and error they use.
export { daemonize, type Daemon, type LaunchWarning } from './launch/daemonize.js'
export type { DaemonizeOptions } from './options/daemonize-options.js'
export { DaemonizeError, type Stage } from './errors.js'
export { getsid, getpgid } from './session.js'
export type { StatusRecord } from './launch/records.js'
export { status, type LsbStatus, type DaemonStatus } from './control/status.js'
export { reload, type ReloadResult } from './control/reload.js'
export { stop, type StopOptions, type StopResult } from './control/stop.js'
export { gracefulRestart, GRACEFUL_SIGNAL, type GracefulRestartOptions, type GracefulRestartResult } from './control/graceful.js'
export { loadSpecByName, type LoadedSpec } from './names/spec.js'
export { runForeground, type RunOptions } from './launch/run.js'
