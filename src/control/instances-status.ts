// What status, list and the API say of each instance of a service started
// with --instances N: from the supervisor's state record (version 6: phase,
// readiness, restarts, release, fork and restart times) and, for an
// instance that runs, its resident memory read from /proc only while its
// pid is still the recorded process (proc/usage.ts rssIfStill).
import { formatDuration } from '../duration.js'
import type { InstancePhase, SupervisorState } from '../files/state-file.js'
import { formatBytes, rssIfStill } from '../proc/usage.js'

export interface InstanceStatus {
  index: number
  /** up, restarting (its restart delay runs), gave-up (its policy stopped it for good), down (neither: a version 5 record, or between its death and its verdict). */
  phase: InstancePhase
  /** Its current generation, when one runs. */
  pid?: number
  /** How long its current generation has been up. */
  uptimeMs?: number
  /** Its generations started after its first. */
  restarts?: number
  /** Its current generation's resident memory (undefined: not readable by this caller, or gone meanwhile). */
  rssBytes?: number
  ready?: boolean
  /** The release its current generation runs: 0 the launch's, k graceful restart k's. */
  release?: number
  /** restarting: its next generation starts in this many ms. */
  restartInMs?: number
  /** A graceful replacement's new generation while it starts, and the replaced one while it drains. */
  nextPid?: number
  drainingPid?: number
}

/** Each instance of the record (undefined for a service without instances), its RSS read only when `withRss`. */
export function instancesStatus(s: SupervisorState, now: number, withRss: boolean): InstanceStatus[] | undefined {
  return s.instances?.map((i) => {
    const phase: InstancePhase = i.phase ?? (i.pid !== undefined ? 'up' : 'down')
    const out: InstanceStatus = { index: i.index, phase }
    if (i.pid !== undefined) out.pid = i.pid
    if (i.startedAt !== undefined) out.uptimeMs = Math.max(0, now - i.startedAt)
    if (i.restarts !== undefined) out.restarts = i.restarts
    if (withRss && i.pid !== undefined) out.rssBytes = rssIfStill(i.pid, { startTicks: i.startTicks, uid: s.serviceUid })
    if (i.ready !== undefined) out.ready = i.ready
    if (i.release !== undefined && phase === 'up') out.release = i.release
    if (i.restartAt !== undefined) out.restartInMs = Math.max(0, i.restartAt - now)
    if (i.nextPid !== undefined) out.nextPid = i.nextPid
    if (i.drainingPid !== undefined) out.drainingPid = i.drainingPid
    return out
  })
}

/** How many instances are up, of how many (undefined: one instance). */
export function instancesUp(list: InstanceStatus[] | undefined): { up: number; of: number } | undefined {
  if (list === undefined || list.length < 2) return undefined
  return { up: list.filter((i) => i.phase === 'up').length, of: list.length }
}

/** What an instance is doing, in words: "up", "restarting in 1.2 s", "gave up", "down". */
export function describePhase(i: InstanceStatus): string {
  switch (i.phase) {
    case 'up':
      return 'up'
    case 'restarting':
      return `restarting in ${formatDuration(i.restartInMs ?? 0)}`
    case 'gave-up':
      return 'gave up'
    default:
      return 'down'
  }
}

/** One line per instance, as status prints them below its message. */
export function instanceLines(list: InstanceStatus[]): string[] {
  const head = ['INSTANCE', 'PID', 'UPTIME', 'RESTARTS', 'RSS', 'READY', 'RELEASE', 'PHASE']
  const rows = list.map((i) => [
    String(i.index),
    i.pid === undefined ? '-' : String(i.pid),
    i.uptimeMs === undefined ? '-' : formatDuration(i.uptimeMs),
    i.restarts === undefined ? '-' : String(i.restarts),
    formatBytes(i.rssBytes),
    i.phase !== 'up' ? '-' : i.ready ? 'yes' : 'no',
    i.release === undefined ? '-' : String(i.release),
    describePhase(i) + (i.nextPid !== undefined ? ` (replacement pid ${i.nextPid} starting)` : '') + (i.drainingPid !== undefined ? ` (pid ${i.drainingPid} draining)` : ''),
  ])
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)))
  const line = (r: string[]) => `  ${r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ')}`.trimEnd()
  return [line(head), ...rows.map(line)]
}
