// What only a service that is dead (its lock free, or held by processes
// other than its pid) or being stopped needs: what of it still runs
// (survivors.ts), who holds its lock (stop-holders.ts), and ending them.
// Reached through deadService() (dead-service-part.ts), so that the CLI's
// status of a running daemon and stop of a stopped one never compile it.
export { describeSurvivors, endSurvivors, findSurvivors, instancesNamed, survivorPids } from './survivors.js'
export { describeHolders, findHolders, judgeHolders, stopLockHolders } from './stop-holders.js'
