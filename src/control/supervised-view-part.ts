// A supervised service's status in words (supervised-view.ts) through a
// function: in the library the module, imported as any other; in the CLI's
// bundles dist/cli-lazy-supervised.cjs, required on the first call
// (scripts/build.mjs, syncParts).
import * as supervisedViewModule from './supervised-view.js'

export function supervisedView(): typeof supervisedViewModule {
  return supervisedViewModule
}
