// What the launcher told this daemon, through NODE_DAEMONIZE_* variables.
// The preload moves them out of process.env (so the daemon's children never
// see them) onto a global symbol; without the preload they are still in
// process.env. A global symbol, not module state: the preload and any copy
// of this package the daemon imports must see the same values.
const KEY = Symbol.for('node-daemonize.daemon')
const PREFIX = 'NODE_DAEMONIZE_'

function stash(): Record<string, string> | undefined {
  const s = (globalThis as Record<symbol, unknown>)[KEY]
  return s !== null && typeof s === 'object' ? (s as Record<string, string>) : undefined
}

/** The value of NODE_DAEMONIZE_<name>, wherever it is kept. */
export function take(name: string): string | undefined {
  return stash()?.[name] ?? process.env[PREFIX + name]
}

/** Drop NODE_DAEMONIZE_<name> from both places. */
export function forget(name: string): void {
  const s = stash()
  if (s) delete s[name]
  delete process.env[PREFIX + name]
}
