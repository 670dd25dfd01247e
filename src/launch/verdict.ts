// The verdict on a launch, from what the helper recorded and how it ended:
// pure functions. daemonize.ts does the I/O around them: it reads the
// records (records.ts), empties the helper's session when the records say
// so, reaps the helper, and acts on the verdict.
import { DaemonizeError } from '../errors.js'
import type { Launch } from '../options/resolve.js'
import { signalName } from '../signals.js'
import { launchFailure } from './launch-failure-part.js'
import type { StatusRecord } from './records.js'

/** What the records say, before the helper is reaped. */
export interface Recorded {
  records: StatusRecord[]
  /** The daemon's pid, as the fork record reported it. */
  daemonPid?: number
  /** The first record of a failure. */
  failed?: StatusRecord
  /** The daemon exec'd. */
  exec: boolean
  /** The start-up window ended well: ready() was called, or the daemon survived it. */
  windowEnd?: StatusRecord
  /**
   * What the helper started may stay: the launch went well, or a daemon that
   * missed ready() is kept on purpose (keepOnTimeout). Otherwise every
   * process of its session is to be killed, before the helper is reaped
   * (while its pid, the session's id, cannot be reused).
   */
  keepSession: boolean
}

/** How the helper ended (its decoded wait status). */
export interface HelperEnd {
  code: number | null
  signal: number | null
}

export type Verdict =
  | {
      ok: true
      daemonPid: number
      /** The daemon's session, as recorded (undefined: not recorded; it is the helper's pid). */
      sid?: number
      /** It called ready() within the window. */
      ready: boolean
      /** Under a supervisor: the supervisor's pid (the generation is daemonPid). */
      supervisorPid?: number
    }
  | {
      ok: false
      error: DaemonizeError
      daemonPid?: number
      /**
       * The daemon is left running on purpose (keepOnTimeout): the pid file
       * stays, locked by it. Otherwise the launch's files go.
       */
      keep: boolean
      /**
       * The helper died mid-launch after it reported the daemon's pid: if
       * every record had arrived before it died, its session was not emptied,
       * and the daemon may run, unwatched; it is to be killed if it is still
       * in the helper's session.
       */
      orphan: boolean
    }

const ok = (records: StatusRecord[], stage: string) => records.find((r) => r.stage === stage && r.err === 0)

/** What the records say. `etimeout`: the protocol's ND_ETIMEOUT. */
export function recorded(records: StatusRecord[], launch: Pick<Launch, 'windowMs' | 'keepOnTimeout'>, etimeout: number): Recorded {
  const daemonPid = ok(records, 'fork')?.value
  const failed = records.find((r) => r.err !== 0)
  const exec = ok(records, 'exec') !== undefined
  const windowEnd = records.find((r) => (r.stage === 'ready' || r.stage === 'running') && r.err === 0)
  const succeeded = !failed && exec && daemonPid !== undefined && (launch.windowMs === 0 || windowEnd !== undefined)
  const kept = failed?.err === etimeout && failed.stage === 'ready' && launch.keepOnTimeout
  return { records, daemonPid, failed, exec, windowEnd, keepSession: succeeded || kept }
}

/**
 * The verdict: the daemon that started, or the error and what becomes of
 * the launch. `readTail`: the log's last lines, for an error that shows them.
 */
export function verdict(r: Recorded, end: HelperEnd, launch: Launch, readTail: () => string | undefined): Verdict {
  const { daemonPid } = r
  if (r.failed) {
    const error = launchFailure().failure(r.failed, launch, daemonPid, readTail)
    return { ok: false, error, daemonPid, keep: keptOnTimeout(error, launch), orphan: false }
  }
  if (!r.exec || daemonPid === undefined || end.code !== 0 || (launch.windowMs > 0 && !r.windowEnd)) {
    // The helper died mid-launch (killed from outside): its session was
    // emptied, unless every record had arrived and it died only after them.
    const how = end.signal !== null ? `was killed by ${signalName(end.signal) ?? end.signal}` : `exited with code ${end.code}`
    const error = new DaemonizeError(`the helper ${how} before the launch was complete`, {
      stage: 'helper',
      code: 'ERR_HELPER_DIED',
      pid: daemonPid,
      signal: end.signal === null ? null : (signalName(end.signal) ?? null),
    })
    return { ok: false, error, daemonPid, keep: false, orphan: daemonPid !== undefined }
  }
  return {
    ok: true,
    daemonPid,
    sid: ok(r.records, 'session')?.value,
    ready: r.windowEnd?.stage === 'ready',
    supervisorPid: ok(r.records, 'supervise')?.value,
  }
}

/** A daemon that did not call ready() in time stays, locked, only when asked to (keepOnTimeout). */
function keptOnTimeout(error: DaemonizeError, launch: Launch): boolean {
  return error.code === 'ERR_DAEMON_TIMEOUT' && launch.keepOnTimeout
}
