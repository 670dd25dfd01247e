// The addons this JavaScript environment loaded, by path: one registry for
// every copy of native.ts (the library's, and each CLI bundle's: a part
// bundle has its own copy), kept on globalThis under a registered symbol.
// Typed by the caller (native.ts's Native), so that this module imports
// nothing.

const KEY = Symbol.for('node-daemonize.addons')

/** The registry (created on first use). */
export function addonRegistry<Addon>(): Map<string, Addon> {
  const g = globalThis as { [KEY]?: Map<string, Addon> }
  return (g[KEY] ??= new Map())
}

/** An addon some copy of native.ts loaded already, else undefined (nothing is loaded, and nothing is loaded here). */
export function addonIfLoaded<Addon>(): Addon | undefined {
  const g = globalThis as { [KEY]?: Map<string, Addon> }
  return g[KEY]?.values().next().value
}
