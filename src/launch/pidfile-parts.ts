// What a launch uses only when it has a pid file (or a name): taking the
// pid file's lock, the leftovers check, the state file, the one-shot
// record, and the name's part (named.ts). One module, reached through
// pidfileParts() (pidfile-parts-part.ts): the CLI's start bundle then never
// compiles this code for a start without a pid file (the leftovers check,
// the spec, the directory rules), and takes it from its own file,
// dist/cli-lazy-pidfile.cjs (scripts/build.mjs), for one with.
export { acquirePidFileWhenSettled, closePidFile, releasePidFile, STARTING_WAIT_MS } from '../files/pidfile-acquire.js'
export { survivorsBlockingStart } from '../control/survivors.js'
export { openStateFile, removeStateFile, statePathOf } from '../files/state-file.js'
export { writeOneShotRecord } from '../files/launch-record.js'
export { holdName, releaseName, saveNamed } from './named.js'
