// What `list` shows of a running process, from /proc: how long it has been
// up, its resident memory, and its CPU use averaged over its life (as ps
// reports %CPU). Kernel-written files; a process gone meanwhile gives
// undefined.
import { closeSync } from 'node:fs'
import { isRecordedProcess, readProcText } from './identity.js'
import { openIfStill, sendSignal } from './pidfd.js'

/** /proc reports times in USER_HZ, which Linux fixes at 100 for user space. */
const USER_HZ = 100

export interface ProcInfo {
  uptimeMs: number
  rssBytes?: number
  /** CPU time over elapsed time since it started, in percent of one CPU. */
  cpuPercent: number
}

export function procInfo(pid: number): ProcInfo | undefined {
  const stat = readProcText(`/proc/${pid}/stat`, 4096)
  const uptime = stat === undefined ? undefined : readProcText('/proc/uptime', 256)
  if (stat === undefined || uptime === undefined) return undefined
  // comm may hold spaces and parentheses: the fields start after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // From the state (field 3 of stat(5)): utime is field 14, stime 15, starttime 22.
  const ticks = Number(f[11]) + Number(f[12])
  const startedSec = Number(f[19]) / USER_HZ
  const upSec = Number(uptime.split(' ')[0])
  if (!Number.isFinite(ticks) || !Number.isFinite(startedSec) || !Number.isFinite(upSec)) return undefined
  const elapsed = Math.max(upSec - startedSec, 0)
  const cpuPercent = elapsed > 0 ? Math.round(((ticks / USER_HZ) / elapsed) * 1000) / 10 : 0
  return { uptimeMs: Math.round(elapsed * 1000), rssBytes: rssOf(pid), cpuPercent }
}

function rssOf(pid: number): number | undefined {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readProcText(`/proc/${pid}/status`, 16384) ?? '')
  return m ? Number(m[1]) * 1024 : undefined
}

/**
 * The resident memory of a recorded process (a state record's pid, start
 * ticks and uid), or undefined: read from /proc/<pid>/status only through a
 * pidfd opened while pid was still that process, and kept only if the
 * process is still there after the read (so the pid was not reused
 * meanwhile). A process this caller may not signal (a monitoring user
 * looking at another user's service) gives undefined.
 */
export function rssIfStill(pid: number, record: { startTicks?: number; uid?: number }): number | undefined {
  let opened: ReturnType<typeof openIfStill>
  try {
    opened = openIfStill(pid, (id) => isRecordedProcess(id, record), 'pidfile')
  } catch {
    return undefined
  }
  if (opened === undefined) return undefined
  try {
    const rss = rssOf(pid)
    return sendSignal(opened.pidfd, 0, pid, 'pidfile') ? rss : undefined
  } catch {
    return undefined
  } finally {
    closeSync(opened.pidfd)
  }
}

/** A size as list and status show it: 512K, 41.3M, 1.2G ('-' unknown). */
export function formatBytes(n: number | undefined): string {
  if (n === undefined) return '-'
  if (n < 1024 * 1024) return `${Math.round(n / 1024)}K`
  if (n < 1024 * 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)}M`
  return `${(n / (1024 * 1024 * 1024)).toFixed(1)}G`
}
