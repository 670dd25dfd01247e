// Opening the daemon's sockets (sockets-open.ts) through a function: in the
// library the module, imported as any other; in the CLI's bundles
// dist/cli-lazy-sockets.cjs, required on the first call (scripts/build.mjs,
// syncParts), so a launch without sockets never compiles it.
import * as socketsOpenModule from './sockets-open.js'

export function socketsOpen(): typeof socketsOpenModule {
  return socketsOpenModule
}
