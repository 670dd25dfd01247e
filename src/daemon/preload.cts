// Loaded with --require into every daemon (unless --no-preload). Kept tiny:
// it runs before the user's code on every start.
//  - takes the NODE_DAEMONIZE_* variables out of process.env, so the
//    daemon's own children never see them, and keeps them for ready() and
//    reopenLogs() on a global symbol;
//  - reopens the log on SIGHUP.
const PREFIX = 'NODE_DAEMONIZE_'
const state: Record<string, string> = {}
for (const key of Object.keys(process.env)) {
  if (key.startsWith(PREFIX)) {
    state[key.slice(PREFIX.length)] = process.env[key] as string
    delete process.env[key]
  }
}
;(globalThis as Record<symbol, unknown>)[Symbol.for('node-daemonize.daemon')] = state
