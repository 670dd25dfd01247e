// Reads the helper's status records through the event loop (a uv_poll on
// the pipe), never by blocking a thread, until the helper closes the pipe.
import { closeSync, readSync } from 'node:fs'
import { stageError } from '../errors.js'
import { LeReader } from '../files/le-fields.js'
import { native } from '../native.js'

export interface StatusRecord {
  /** Stage name, from the table in native/protocol.h. */
  stage: string
  /** What would have failed, as a syscall name. */
  syscall: string
  /** 0 ok; > 0 an errno; < 0 one of the protocol's own failures. */
  err: number
  value: number
}

let stageNames: Map<number, { name: string; syscall: string }> | undefined
let syscallNames: Map<number, string> | undefined

function stageById(id: number): { name: string; syscall: string } {
  if (stageNames === undefined) stageNames = new Map(native().stages.map((s) => [s.id, s]))
  return stageNames.get(id) ?? { name: `stage-${id}`, syscall: 'unknown' }
}

/** The record's own syscall id, else the stage's usual one. */
function syscallName(id: number, stage: { syscall: string }): string {
  if (id === 0) return stage.syscall
  if (syscallNames === undefined) syscallNames = new Map(native().syscalls.map((s) => [s.id, s.name]))
  return syscallNames.get(id) ?? 'unknown'
}

export function decodeRecords(buf: Buffer): StatusRecord[] {
  const size = native().constants.RECORD_SIZE
  const r = new LeReader(buf)
  const out: StatusRecord[] = []
  for (let o = 0; o + size <= buf.length; o += size) {
    const s = stageById(r.u16(o))
    out.push({
      stage: s.name,
      syscall: syscallName(r.u16(o + 2), s),
      err: r.i32(o + 4),
      value: Number(r.i64(o + 8)),
    })
  }
  return out
}

/**
 * Collect every record from fd until EOF, then close fd. Records are 16 bytes and written whole, but reads may still
 * end between two of them, so partial bytes carry over. With deadlineMs, an EOF that has not come by then is an
 * error (code ETIMEDOUT).
 */
export function readStatus(fd: number, deadlineMs?: number): Promise<StatusRecord[]> {
  const { FdWatcher, constants } = native()
  const size = constants.RECORD_SIZE
  return new Promise((resolve, reject) => {
    const records: StatusRecord[] = []
    const chunk = Buffer.allocUnsafe(size * 64)
    let pending = Buffer.alloc(0)
    let watcher: { close(): void } | undefined
    const timer =
      deadlineMs === undefined
        ? undefined
        : setTimeout(() => finish(Object.assign(new Error(`no end of the launch within ${deadlineMs} ms`), { code: 'ETIMEDOUT' })), deadlineMs)
    const finish = (err?: unknown) => {
      clearTimeout(timer)
      watcher?.close()
      closeSync(fd)
      if (err) reject(err)
      else resolve(records)
    }
    const drain = () => {
      let n: number
      try {
        n = readSync(fd, chunk, 0, chunk.length, null)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return
        finish(err)
        return
      }
      if (n === 0) {
        // Records are written whole; a fragment at EOF is a broken helper.
        if (pending.length > 0) finish(new Error(`the helper's status ended inside a record (${pending.length} stray bytes)`))
        else finish()
        return
      }
      // Records are written whole (16 bytes, one write each): a read ends
      // between two of them only when the pipe held part of one.
      if (pending.length === 0 && n % size === 0) {
        records.push(...decodeRecords(chunk.subarray(0, n)))
        return
      }
      pending = pending.length ? Buffer.concat([pending, chunk.subarray(0, n)]) : Buffer.from(chunk.subarray(0, n))
      const whole = pending.length - (pending.length % size)
      records.push(...decodeRecords(pending.subarray(0, whole)))
      pending = pending.subarray(whole)
    }
    try {
      watcher = new FdWatcher(fd, drain)
    } catch (err) {
      finish(err)
    }
  })
}

/**
 * How long a launch without a start-up window may take in all. Its helper
 * gives the daemon 30 s from fork to the "exec" record
 * (ND_EXEC_DEADLINE_MS, native/daemon_steps.h) and reports a timeout
 * itself; then it exits (the handoff, docs/how-it-works.md) and nothing but
 * this deadline bounds the rest: a daemon stopped before its execve (by a
 * process of the service user, SIGSTOP) would hold the pipe, and the
 * caller would wait forever. NODE_DAEMONIZE_TEST_HANDOFF_MS shortens it
 * (tests only).
 */
export function handoffDeadlineMs(env: NodeJS.ProcessEnv = process.env): number {
  const test = Number(env.NODE_DAEMONIZE_TEST_HANDOFF_MS)
  return Number.isSafeInteger(test) && test > 0 ? test : 35_000
}

/**
 * Every record of a helper just spawned (readStatus), by deadlineMs if
 * given. When its pipe cannot be watched or the deadline passes, the helper
 * is ended (and with it the launch), and whatever it forked, before it is
 * reaped (while its pid, the session id, cannot be reused); then a
 * DaemonizeError at stage 'helper'.
 */
export async function readHelperRecords(helper: { pid: number; statusFd: number }, deadlineMs?: number): Promise<StatusRecord[]> {
  try {
    return await readStatus(helper.statusFd, deadlineMs)
  } catch (err) {
    process.kill(helper.pid, 'SIGKILL')
    native().killSession(helper.pid)
    native().waitPid(helper.pid)
    throw stageError('helper', 'cannot read the helper\'s status', err)
  }
}
