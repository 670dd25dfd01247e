// The addons this JavaScript environment loaded, by path: one registry for
// every copy of native.ts (the library's, and each CLI bundle's: a part
// bundle has its own copy), kept on globalThis under a registered symbol.
import type { Native } from './native.js'

const KEY = Symbol.for('node-daemonize.addons')

/** The registry (created on first use). */
export function addonRegistry(): Map<string, Native> {
  const g = globalThis as { [KEY]?: Map<string, Native> }
  return (g[KEY] ??= new Map())
}

/** An addon some copy of native.ts loaded already, else undefined (nothing is loaded, and nothing is loaded here). */
export function addonIfLoaded(): Native | undefined {
  const g = globalThis as { [KEY]?: Map<string, Native> }
  return g[KEY]?.values().next().value
}
