// Stopping a service whose pid file is there (stop-found.ts) through a
// function: in the library the module, imported as any other; in the CLI's
// bundles dist/cli-lazy-stop.cjs, required on the first call
// (scripts/build.mjs, syncParts), so a stop of a stopped service never
// compiles it.
import * as stopFoundModule from './stop-found.js'

export function stopFoundPart(): typeof stopFoundModule {
  return stopFoundModule
}
