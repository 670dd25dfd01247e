// Reading a process's state from /proc, the way the tests judge a daemon.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'

export interface ProcStat {
  pid: number
  comm: string
  state: string
  ppid: number
  pgrp: number
  session: number
  ttyNr: number
}

/** Fields of /proc/<pid>/stat (comm may hold spaces and parentheses). */
export function procStat(pid: number): ProcStat {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const close = text.lastIndexOf(')')
  const comm = text.slice(text.indexOf('(') + 1, close)
  const rest = text.slice(close + 2).split(' ')
  return {
    pid,
    comm,
    state: rest[0],
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    session: Number(rest[3]),
    ttyNr: Number(rest[4]),
  }
}

/** /proc/<pid>/status as key -> value. */
export function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':')
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim()
  }
  return out
}

/** fd number -> link target, for every open fd of pid. */
export function procFds(pid: number): Map<number, string> {
  const out = new Map<number, string>()
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.set(Number(name), readlinkSync(`/proc/${pid}/fd/${name}`))
    } catch {
      // closed meanwhile
    }
  }
  return out
}

/** The flags field of /proc/<pid>/fdinfo/<fd> (octal open flags). */
export function fdFlags(pid: number, fd: number): number {
  const m = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))
  if (!m) throw new Error(`no flags for fd ${fd} of ${pid}`)
  return parseInt(m[1], 8)
}

export function procCwd(pid: number): string {
  return readlinkSync(`/proc/${pid}/cwd`)
}

/** Running and not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    return procStat(pid).state !== 'Z'
  } catch {
    return false
  }
}

/** Pids of the processes whose parent is ppid. */
export function childrenOf(ppid: number): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      if (procStat(Number(name)).ppid === ppid) out.push(Number(name))
    } catch {
      // gone
    }
  }
  return out
}

/** The caller's own zombie children (pid 1 reaps orphans late here, so only direct children count). */
export function zombieChildren(ppid = process.pid): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const st = procStat(Number(name))
      if (st.ppid === ppid && st.state === 'Z') out.push(st.pid)
    } catch {
      // gone
    }
  }
  return out
}

export function inode(path: string): { dev: number; ino: number } {
  const st = statSync(path)
  return { dev: st.dev, ino: st.ino }
}

/** The command line of a process, one string per argument (latin1). */
export function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').slice(0, -1)
}

export function rawCmdline(pid: number): Buffer[] {
  return nulSeparated(readFileSync(`/proc/${pid}/cmdline`))
}

export function environ(pid: number): Buffer[] {
  return nulSeparated(readFileSync(`/proc/${pid}/environ`))
}

function nulSeparated(buf: Buffer): Buffer[] {
  const out: Buffer[] = []
  let start = 0
  for (let i = buf.indexOf(0); i !== -1; i = buf.indexOf(0, start)) {
    out.push(buf.subarray(start, i))
    start = i + 1
  }
  return out
}

export function envOf(pid: number): Map<string, string> {
  return new Map(environ(pid).map((e) => [e.subarray(0, e.indexOf(0x3d)).toString(), e.subarray(e.indexOf(0x3d) + 1).toString('latin1')]))
}
