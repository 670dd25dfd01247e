// Every named daemon of this user (root: the system's), from the saved
// specs, their pid files and locks (status) and /proc. Nothing of ours has
// to run for it: it reads files, tests locks, and never takes one.
import type { DaemonizeError } from '../errors.js'
import { status } from '../control/status.js'
import { type InstanceStatus, instancesUp } from '../control/instances-status.js'
import { nameDirs, type NameDirs } from './paths.js'
import { procInfo } from '../proc/usage.js'
import { listSpecs } from './spec.js'

export type ListState = 'running' | 'degraded' | 'starting' | 'restarting' | 'stopping' | 'failed' | 'orphaned' | 'stale' | 'stopped' | 'unknown'

export interface ListEntry {
  name: string
  state: ListState
  /** The daemon's pid (under a supervisor: the current generation's). */
  pid?: number
  /** With respawn: the supervisor's pid (the pid file's). */
  supervisorPid?: number
  /** How long the daemon (current generation) has been up. */
  uptimeMs?: number
  /** With respawn: generations started after the first. */
  restarts?: number
  rssBytes?: number
  cpuPercent?: number
  logFile?: string
  pidFile?: string
  specPath?: string
  /** With --instances: how many are up, of how many (the state column says `degraded 3/4` while some are not), and each one (status's fields). */
  instancesUp?: { up: number; of: number }
  instances?: InstanceStatus[]
  /** What status says, or why the spec cannot be used. */
  message: string
}

const STATES: Record<string, ListState> = {
  running: 'running',
  degraded: 'degraded',
  starting: 'starting',
  restarting: 'restarting',
  stopping: 'stopping',
  failed: 'failed',
  dead: 'stale',
  stopped: 'stopped',
  unknown: 'unknown',
}

export function listDaemons(dirs: NameDirs = nameDirs()): ListEntry[] {
  return listSpecs(dirs).map(({ name, spec, error }) => {
    if (spec === undefined) return { name, state: 'unknown', message: (error as DaemonizeError).message }
    const { pidFile, logFile } = spec.options
    const entry: ListEntry = { name, state: 'unknown', logFile, pidFile, specPath: spec.specPath, message: '' }
    if (pidFile === undefined) return { ...entry, message: 'its spec names no pid file' }
    const s = status(pidFile)
    entry.state = STATES[s.state] ?? 'unknown'
    entry.message = s.message
    if (s.supervisor !== undefined) {
      entry.supervisorPid = s.supervisor.pid
      entry.pid = s.supervisor.daemonPid
      entry.restarts = s.supervisor.restarts
      // Instances are named only while the supervisor lives (its record is current).
      if (s.code === 0 && s.supervisor.instances !== undefined && s.supervisor.instances.length > 1) {
        entry.instances = s.supervisor.instances
        entry.instancesUp = instancesUp(s.supervisor.instances)
      }
    } else if (s.pid !== undefined) {
      entry.pid = s.pid
    }
    // Dead, yet processes of it still run (a killed supervisor's generation,
    // the holders of a lock the daemon handed on): not stale.
    if (s.state === 'dead' && ((s.survivors?.length ?? 0) > 0 || (s.lockHolders?.length ?? 0) > 0)) {
      entry.state = 'orphaned'
      entry.pid = s.survivors?.[0]
    }
    // /proc only for a process the lock says is alive: a stale pid may be anyone's now.
    // (orphaned: its pid is one status checked against the launch record, or found holding the lock.)
    const live = ['running', 'degraded', 'restarting', 'stopping', 'starting', 'orphaned'].includes(entry.state)
    const info = live && entry.pid !== undefined ? procInfo(entry.pid) : undefined
    if (info !== undefined) {
      entry.uptimeMs = info.uptimeMs
      entry.rssBytes = info.rssBytes
      entry.cpuPercent = info.cpuPercent
    }
    return entry
  })
}
