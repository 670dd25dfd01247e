// A start resolved once. The options go through one pass: parsed (the CLI's
// cli/start.ts, or the caller's object), resolved here into one value (the
// name's defaults, then every option checked: options/resolve.ts), checked
// further when a restart must not stop the old daemon for nothing
// (preflight.ts), planned for the helper (plan.ts) and run (daemonize.ts).
// Each step takes the value the one before made; none resolves again.
import type { DaemonizeOptions } from '../options/daemonize-options.js'
import { type Launch, resolveLaunch } from '../options/resolve.js'
import { nameDefaults, type NamedStart } from './name-defaults.js'

export interface Start {
  /** Every option resolved and checked. */
  launch: Launch
  /** With a name: its defaults, and where its files go. */
  named?: NamedStart
}

/**
 * Resolve and check a start's options: a name first (its default pid file
 * and log, in the standard directories), then every option. Makes and
 * opens nothing; throws a DaemonizeError for a bad input.
 */
export function resolveStart(options: DaemonizeOptions): Start {
  const named = nameDefaults(options)
  if (named === undefined) return { launch: resolveLaunch(options) }
  return { launch: resolveLaunch(named.options, { credentials: named.credentials }), named }
}
