// The given sockets' resolution (listen-given.ts) through a function: in
// the library the module, imported as any other; in the CLI's bundles
// dist/cli-lazy-listen.cjs, required on the first call (scripts/build.mjs,
// syncParts), so a start without sockets never compiles it.
import * as listenGivenModule from './listen-given.js'

export function listenGiven(): typeof listenGivenModule {
  return listenGivenModule
}
