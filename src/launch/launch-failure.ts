// What only a failed launch needs: its error worded from the helper's
// record (failure.ts), with the last lines of the log (logs/tail.ts).
// Reached through launchFailure() (launch-failure-part.ts), so that the
// CLI's start compiles it only when a launch fails.
export { failure } from './failure.js'
export { logTail } from '../logs/tail.js'
