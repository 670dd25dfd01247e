// Who a process is, from /proc (kernel-written files): its state, parent,
// group, session, start time and uids, what a recorded pid is checked
// against before it is named or signalled; and every pid there is.
import { readdirSync, readFileSync } from 'node:fs'
import { native } from '../native.js'

/**
 * Who a process is, from /proc/<pid>/stat and /proc/<pid>/status: what a
 * recorded pid is checked against before it is named or signalled (pids
 * are reused: the start time tells a successor apart, the uid a process of
 * someone else).
 */
export interface ProcIdentity {
  pid: number
  /** One letter: R, S, D, Z (zombie: its fds are closed), T, ... */
  state: string
  ppid: number
  pgrp: number
  session: number
  /** Clock ticks after boot (field 22 of stat(5)). */
  startTicks: number
  /** Real, effective, saved and filesystem uid. */
  uids: [number, number, number, number]
  comm: string
}

/**
 * A small /proc file's text (at most `max` + 1 bytes, latin1) through the
 * addon: one call, no exception when the process is gone (`list` reads three
 * for every running daemon, `status` one); undefined when it cannot be read.
 */
export function readProcText(path: string, max: number): string | undefined {
  try {
    return native().readUntrusted(path, max)?.data?.toString('latin1')
  } catch {
    return undefined
  }
}

/** The identity of pid, or undefined when it is gone (or /proc does not show it). */
export function procIdentity(pid: number): ProcIdentity | undefined {
  let stat: string
  let status: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    status = readFileSync(`/proc/${pid}/status`, 'latin1')
  } catch {
    return undefined
  }
  // comm may hold spaces and parentheses: the fields start after the last ')'.
  const close = stat.lastIndexOf(')')
  const f = stat.slice(close + 2).split(' ')
  const u = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/m.exec(status)
  const startTicks = Number(f[19])
  if (u === null || f.length < 20 || !Number.isSafeInteger(startTicks)) return undefined
  return {
    pid,
    state: f[0],
    ppid: Number(f[1]),
    pgrp: Number(f[2]),
    session: Number(f[3]),
    startTicks,
    uids: [Number(u[1]), Number(u[2]), Number(u[3]), Number(u[4])],
    comm: stat.slice(stat.indexOf('(') + 1, close),
  }
}

/** Alive (not a zombie) and of uid: every one of its uids (real, effective, saved, fs) is uid. */
export function isLiveOf(id: ProcIdentity | undefined, uid: number | undefined): boolean {
  if (id === undefined || id.state === 'Z' || id.state === 'X' || uid === undefined) return false
  return id.uids.every((u) => u === uid)
}

/**
 * The recorded process itself: alive, started at the recorded start time,
 * and of the recorded uid. A record without either never matches.
 */
export function isRecordedProcess(id: ProcIdentity | undefined, record: { startTicks?: number; uid?: number }): boolean {
  return id !== undefined && record.startTicks !== undefined && isLiveOf(id, record.uid) && id.startTicks === record.startTicks
}

/** Every pid in /proc now. */
export function allPids(): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    const pid = Number(name)
    if (Number.isInteger(pid) && pid > 0) out.push(pid)
  }
  return out
}
