// The load clients of the graceful-restart tests are the benchmark's own
// (bench/load-clients.mjs): one implementation of "plain" and "keep-alive"
// (retrying a reused connection's GET once, or with retry: false never),
// measured and tested alike.
export { startLoad, type Load, type LoadStats } from '../../bench/load-clients.mjs'
