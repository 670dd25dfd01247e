// The pid file's part of a launch (pidfile-parts.ts) through a function: in
// the library the module, imported as any other; in the CLI's bundles
// dist/cli-lazy-pidfile.cjs, required on the first call (scripts/build.mjs,
// syncParts), so a start without a pid file never compiles it.
import * as pidfilePartsModule from './pidfile-parts.js'

export function pidfileParts(): typeof pidfilePartsModule {
  return pidfilePartsModule
}
