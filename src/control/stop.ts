// stop: signal the daemon named by a pid file through a pidfd opened after
// checking that the pid holds the locked lock file (daemon-pidfd.ts), wait
// for it to exit, SIGKILL it after the timeout, then remove the pid file
// and lock file under the lock (stop-found.ts). A lock the daemon handed
// on: its holders (stop-holders.ts); a free lock while the service's
// processes still run: what the launch record identifies (survivors.ts).
// Nothing else is ever signalled: a recycled pid, or an unrelated process a
// stale file names. A service with no pid file is answered here; what a
// pid file found needs is reached through stopFoundPart()
// (stop-found-part.ts): the CLI's stop of a stopped service never compiles it.
import { delay } from '../delay.js'
import { checkDurationMs } from '../duration.js'
import type { Stage } from '../errors.js'
import { resolveSignal } from '../signals.js'
import { inspectPidFile, type PidFileState } from '../files/pidfile-inspect.js'
import { stopFoundPart } from './stop-found-part.js'
import { DEFAULT_STOP_TIMEOUT_MS, type StopOptions, type StopResult } from './stop-result.js'

export { DEFAULT_STOP_TIMEOUT_MS, type StopOptions, type StopResult } from './stop-result.js'

/**
 * Wait until the pid file shows a pid (a start in progress writes it within
 * milliseconds of taking the lock), polling through the event loop.
 */
async function settledState(pidFile: string, stage: Stage, waitMs: number): Promise<PidFileState> {
  const end = Date.now() + waitMs
  let s = inspectPidFile(pidFile, stage)
  while (s.kind === 'held' && s.pid === null && Date.now() < end) {
    await delay(10)
    s = inspectPidFile(pidFile, stage)
  }
  return s
}

/**
 * Stop the daemon named by a pid file: signal it (SIGTERM by default) through
 * a pidfd, wait for it to exit on the event loop, SIGKILL it after
 * timeoutMs, then remove the pid file under its lock. Resolves with
 * wasRunning false when nothing was running (no file, or a stale one: a
 * stale file is left for the next start to reclaim, and the process its pid
 * names now is not touched). Rejects with a DaemonizeError (stage 'stop')
 * when the pid file is unusable or the daemon cannot be confirmed or signalled.
 */
export async function stop(pidFile: string, options: StopOptions = {}): Promise<StopResult> {
  // A signal given is checked at once, running or not; the default one is
  // looked up only when there may be something to signal (Node's signal
  // numbers are node:os, which a stop of a stopped service never loads).
  const given = options.signal === undefined || options.signal === null ? undefined : resolveSignal(options.signal)
  const timeoutMs = checkDurationMs('timeoutMs', options.timeoutMs, DEFAULT_STOP_TIMEOUT_MS, { whole: false })
  const stage: Stage = 'stop'
  const s = await settledState(pidFile, stage, Math.max(timeoutMs, 1000))
  if (s.kind === 'absent') return { wasRunning: false, escalated: false, message: `not running (no pid file ${pidFile})` }
  return stopFoundPart().stopFound(pidFile, s, given ?? resolveSignal('SIGTERM'), options, timeoutMs, stage)
}
