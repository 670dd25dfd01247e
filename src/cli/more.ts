// The commands run now and then rather than in a loop (restart, reload,
// remove, run, unit), in one bundle (dist/cli-more.cjs: scripts/build.mjs):
// each as a self-contained bundle of its own would repeat the launcher and
// the stop protocol five times over in the package. The commands that
// scripts and monitoring run again and again (status, stop, list, logs,
// start) each have a bundle of their own, which holds only their code.
export * as reload from './reload.js'
export * as remove from './remove.js'
export * as restart from './restart.js'
export * as run from './run.js'
export * as unit from './unit.js'
