// Ending processes that are not ours to reap, with stop's protocol: each
// through a pidfd opened first and checked after (start time, uid, what it
// holds), so that a pid reused meanwhile is never hit; the first signal to
// all of them, a wait on the event loop, SIGKILL to those still there after
// the timeout.
import { osSignals } from '../signals.js'
import { closeSync } from 'node:fs'
import { DaemonizeError, type Stage } from '../errors.js'
import { openIfStill, sendSignal, waitExit } from '../proc/pidfd.js'
import type { ProcIdentity } from '../proc/identity.js'

/** After SIGKILL only an uninterruptible sleep keeps a process; give it this long. */
export const KILL_WAIT_MS = 10_000

export interface Victim {
  pid: number
  /**
   * Is the process behind the pidfd still the one meant? Called with what
   * /proc shows of pid once its pidfd is open; the pidfd is then checked to
   * be alive, so /proc showed that very process.
   */
  isStill(id: ProcIdentity): boolean
}

export interface Terminated {
  /** Sent the first signal. */
  signalled: number[]
  /** Of those, the ones still there after the timeout, sent SIGKILL. */
  escalated: number[]
  /** Gone, or no longer the process meant, before anything was sent: not signalled. */
  skipped: number[]
}

/**
 * Send `sig` to every victim that is still the process meant, wait up to
 * timeoutMs for all of them to exit, SIGKILL the rest. Throws ETIMEDOUT
 * when one outlives SIGKILL by KILL_WAIT_MS.
 */
export async function terminate(victims: Victim[], sig: number, timeoutMs: number, stage: Stage): Promise<Terminated> {
  const out: Terminated = { signalled: [], escalated: [], skipped: [] }
  const open: { pid: number; pidfd: number }[] = []
  try {
    for (const v of victims) {
      const pidfd = openIfStill(v.pid, (id) => v.isStill(id), stage)?.pidfd
      if (pidfd === undefined) {
        out.skipped.push(v.pid)
        continue
      }
      open.push({ pid: v.pid, pidfd })
      if (sendSignal(pidfd, sig, v.pid, stage)) out.signalled.push(v.pid)
    }
    const exited = await Promise.all(open.map((p) => waitExit(p.pidfd, timeoutMs)))
    const left = open.filter((_, i) => !exited[i])
    for (const p of left) if (sendSignal(p.pidfd, osSignals().SIGKILL, p.pid, stage)) out.escalated.push(p.pid)
    const killed = await Promise.all(left.map((p) => waitExit(p.pidfd, KILL_WAIT_MS)))
    const stuck = left.filter((_, i) => !killed[i]).map((p) => p.pid)
    if (stuck.length > 0) {
      throw new DaemonizeError(`pid ${stuck.join(', ')} did not exit even ${KILL_WAIT_MS} ms after SIGKILL`, {
        stage,
        code: 'ETIMEDOUT',
        pid: stuck[0],
      })
    }
    return out
  } finally {
    for (const p of open) closeSync(p.pidfd)
  }
}

/** "pid 12", "pids 12 and 13", "pids 12, 13 and 14" (at most `max` named, then "and N more"). */
export function pidList(pids: number[], max = 5): string {
  if (pids.length === 0) return 'no pid'
  if (pids.length === 1) return `pid ${pids[0]}`
  const shown = pids.slice(0, max)
  const more = pids.length - shown.length
  if (more > 0) return `pids ${shown.join(', ')} and ${more} more`
  return `pids ${shown.slice(0, -1).join(', ')} and ${shown.at(-1)}`
}
