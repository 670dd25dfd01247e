// What only the status of a service under a supervisor shows: its state in
// words (supervisor-status.ts) and its instances (instances-status.ts).
// Reached through supervisedView() (supervised-view-part.ts), so that the
// CLI's status of a daemon without a supervisor never compiles it.
export { describeEnd, describeRunning, supervisorStatus } from './supervisor-status.js'
export { instanceLines, instancesUp } from './instances-status.js'
