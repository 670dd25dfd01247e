// The --respawn policy as systemd's restart settings. The supervisor and
// systemd count differently in places; each difference is said in a comment.
import type { RespawnPolicy } from '../options/respawn.js'
import { timeSpan } from './quote.js'

/** RestartSteps= and RestartMaxDelaySec= came with systemd 254. */
export const RESTART_STEPS_SINCE = 254

/** Signals systemd counts as a clean death; the supervisor restarts after any signal. */
const CLEAN_SIGNALS = 'SIGHUP SIGINT SIGTERM SIGPIPE'

/**
 * Adds the restart directives to `unit` ([Unit]) and `svc` ([Service]), and
 * the differences to `note`.
 */
export function respawnLines(
  policy: RespawnPolicy | undefined,
  systemdVersion: number | undefined,
  unit: string[],
  svc: string[],
  note: (text: string) => void,
): void {
  if (policy === undefined) {
    svc.push('Restart=no')
    return
  }
  svc.push(`Restart=${policy.mode}`, `RestartSec=${timeSpan(policy.delayMs)}`)
  if (policy.mode === 'on-failure') {
    svc.push(`RestartForceExitStatus=${CLEAN_SIGNALS}`)
    note(`--respawn on-failure: restarted after a death by any signal, so also after ${CLEAN_SIGNALS} (RestartForceExitStatus=), which systemd would count as clean`)
  }
  if (policy.noRespawnExit.length > 0) svc.push(`RestartPreventExitStatus=${policy.noRespawnExit.join(' ')}`)
  unit.push(`StartLimitBurst=${policy.limit}`, `StartLimitIntervalSec=${timeSpan(policy.windowMs)}`)
  note(
    `--respawn-limit ${policy.limit}/${timeSpan(policy.windowMs)}: systemd counts starts, not deaths: ` +
      `start number ${policy.limit + 1} within ${timeSpan(policy.windowMs)} fails, which leaves the same ${policy.limit} runs`,
  )
  backoff(policy, systemdVersion, svc, note)
  note(
    `--min-uptime ${timeSpan(policy.minUptimeMs)}: systemd has no such setting: its restart count (and the delay that grows with it) ` +
      'starts over only at a start that is not an automatic restart',
  )
}

/** The doubling delay: systemd 254's RestartSteps=/RestartMaxDelaySec=, or a comment. */
function backoff(policy: RespawnPolicy, systemdVersion: number | undefined, svc: string[], note: (text: string) => void): void {
  const { delayMs, maxDelayMs } = policy
  if (delayMs === 0 || maxDelayMs <= delayMs) return
  // delay × 2^steps reaches the cap; systemd spreads the growth from
  // RestartSec= to RestartMaxDelaySec= evenly (exponentially) over the steps.
  const steps = Math.ceil(Math.log2(maxDelayMs / delayMs))
  const lines = [`RestartSteps=${steps}`, `RestartMaxDelaySec=${timeSpan(maxDelayMs)}`]
  const doubling = `the restart delay doubles from ${timeSpan(delayMs)} up to ${timeSpan(maxDelayMs)}`
  if (systemdVersion !== undefined && systemdVersion >= RESTART_STEPS_SINCE) {
    svc.push(...lines)
    note(`--respawn-delay/--respawn-max-delay: ${doubling}: RestartSteps=${steps} grows it from RestartSec= to RestartMaxDelaySec= in ${steps} steps`)
    return
  }
  const which = systemdVersion === undefined ? 'the target\'s version is unknown (give --systemd-version)' : `this is systemd ${systemdVersion}`
  svc.push(...lines.map((l) => `#${l}`))
  note(
    `--respawn-delay/--respawn-max-delay: ${doubling}; RestartSteps=/RestartMaxDelaySec= need systemd ${RESTART_STEPS_SINCE} or later ` +
      `and ${which}: every restart waits RestartSec= (on ${RESTART_STEPS_SINCE}+, uncomment #RestartSteps= and #RestartMaxDelaySec= in [Service])`,
  )
}
