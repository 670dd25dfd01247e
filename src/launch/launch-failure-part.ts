// A failed launch's part (launch-failure.ts) through a function: in the
// library the module, imported as any other; in the CLI's bundles
// dist/cli-lazy-failure.cjs, required on the first call (scripts/build.mjs,
// syncParts), so a launch that goes well never compiles it.
import * as launchFailureModule from './launch-failure.js'

export function launchFailure(): typeof launchFailureModule {
  return launchFailureModule
}
