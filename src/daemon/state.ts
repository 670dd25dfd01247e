// What the launcher told this daemon, through NODE_DAEMONIZE_* variables
// (contract.cts). The preload moves them out of process.env (so the
// daemon's children never see them) onto a global symbol; without the
// preload they are still in process.env. A global symbol, not module state:
// the preload and any copy of this package the daemon imports must see the
// same values. A daemon started under another contract version (another
// version of the package) is told so, once, and its variables are not read.
import { CONTRACT, contractMismatch, envName, STATE_KEY } from './contract.cjs'

const KEY = Symbol.for(STATE_KEY)

function stash(): Record<string, string> | undefined {
  const s = (globalThis as Record<symbol, unknown>)[KEY]
  return s !== null && typeof s === 'object' ? (s as Record<string, string>) : undefined
}

function raw(name: string): string | undefined {
  return stash()?.[name] ?? process.env[envName(name)]
}

let warned = false

/** The value of NODE_DAEMONIZE_<name>, wherever it is kept; undefined under another contract. */
export function take(name: string): string | undefined {
  const value = raw(name)
  if (value === undefined) return undefined
  const mismatch = contractMismatch(raw(CONTRACT))
  if (mismatch === undefined) return value
  if (!warned) {
    warned = true
    process.emitWarning(mismatch, { code: 'NODE_DAEMONIZE_CONTRACT' })
  }
  return undefined
}

/** Drop NODE_DAEMONIZE_<name> from both places. */
export function forget(name: string): void {
  const s = stash()
  if (s) delete s[name]
  delete process.env[envName(name)]
}
