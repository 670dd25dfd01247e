// The CPUs a process may use (cpu-limit.ts) through a function: in the
// library the module, imported as any other; in the CLI's bundles
// dist/cli-lazy-cpu.cjs, required on the first call (scripts/build.mjs,
// syncParts): only `--instances max` asks, and the module loads node:os.
import * as cpuLimitModule from './cpu-limit.js'

export function cpuLimit(): typeof cpuLimitModule {
  return cpuLimitModule
}
