// What `list` shows of a running process, from /proc: how long it has been
// up, its resident memory, and its CPU use averaged over its life (as ps
// reports %CPU). Kernel-written files; a process gone meanwhile gives
// undefined.
import { readFileSync } from 'node:fs'

/** /proc reports times in USER_HZ, which Linux fixes at 100 for user space. */
const USER_HZ = 100

export interface ProcInfo {
  uptimeMs: number
  rssBytes?: number
  /** CPU time over elapsed time since it started, in percent of one CPU. */
  cpuPercent: number
}

export function procInfo(pid: number): ProcInfo | undefined {
  let stat: string
  let uptime: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    uptime = readFileSync('/proc/uptime', 'latin1')
  } catch {
    return undefined
  }
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
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))
    return m ? Number(m[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}
