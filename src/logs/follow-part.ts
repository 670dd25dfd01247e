// Following a log (follow.ts) through a function: in the library the
// module, imported as any other; in the CLI's bundles dist/cli-lazy-follow.cjs,
// required on the first call (scripts/build.mjs, syncParts), so `logs`
// without --follow never compiles it.
import * as followModule from './follow.js'

export function logFollow(): typeof followModule {
  return followModule
}
