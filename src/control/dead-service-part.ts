// The dead service's part (dead-service.ts) through a function. In the
// library it returns the module, imported as any other; in the CLI's
// bundles the function requires dist/cli-lazy-dead.cjs on its first call
// (scripts/build.mjs, syncParts): V8 pre-parses all of a file it compiles,
// ~45 µs a kB here, and most runs of status and stop never go this way.
import * as deadServiceModule from './dead-service.js'

export function deadService(): typeof deadServiceModule {
  return deadServiceModule
}
