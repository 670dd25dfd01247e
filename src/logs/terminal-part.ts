// A terminal's view of a log (terminal.ts) through a function: in the
// library the module, imported as any other; in the CLI's bundles
// dist/cli-lazy-terminal.cjs, required on the first call (scripts/build.mjs,
// syncParts), so `logs` into a pipe or a file never compiles it.
import * as terminalModule from './terminal.js'

export function terminalView(): typeof terminalModule {
  return terminalModule
}
