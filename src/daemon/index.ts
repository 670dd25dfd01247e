// node-daemonize/daemon: what a daemon's own code calls. Importing it loads
// nothing heavy: pino loads on the first logger() call, the addon only when
// a call needs a syscall Node lacks (sid, sd_notify, dup2 onto 1 and 2).
//
// Every daemon that imports this pays for it at start-up, before it can be
// ready, so nothing is imported statically: builtins come from
// process.getBuiltinModule() at the call that needs them (an ESM import of
// node:fs alone builds a facade that runs its lazy getters, several ms), and
// the package's own modules through require() when first used.
import type { Logger, LoggerOptions } from 'pino'
import type * as LogModule from '../logger.js'
import type * as NativeModule from '../native.js'
import { forget, take } from './state.js'
import { keptListenFds, type ListenFd, takeListenFds } from './listen-fds.cjs'

export type { ListenFd } from './listen-fds.cjs'
export { drain, drainable, type DrainOptions } from './drain.js'

const fs = () => process.getBuiltinModule('node:fs')
const os = () => process.getBuiltinModule('node:os')
const load = (id: string): unknown => process.getBuiltinModule('node:module').createRequire(import.meta.url)(id)
const native = () => (load('../native.js') as typeof NativeModule).native()
const loadPino = () => (load('../logger.js') as typeof LogModule).loadPino()

let notified = false

/**
 * Tell whoever waits for this daemon that it is ready to serve.
 *
 * Under node-daemonize (the launch waited for readiness): writes `READY=1`
 * to the ready pipe on the fd named in NODE_DAEMONIZE_READY_FD (4, or 4+N after
 * N listening sockets), closes
 * it and forgets the variable. In a program run directly by systemd
 * (NOTIFY_SOCKET set, no ready pipe): sends `READY=1` to $NOTIFY_SOCKET.
 *
 * Returns true when a notification was sent. Calling it again, or in a
 * program nobody waits for, does nothing and returns false; so does a
 * NOTIFY_SOCKET that cannot be reached (with a process warning).
 */
export function ready(): boolean {
  const named = take('READY_FD')
  if (named !== undefined) {
    forget('READY_FD')
    return writeReadyPipe(named)
  }
  const socket = process.env.NOTIFY_SOCKET
  if (socket && !notified) {
    notified = true
    try {
      native().sdNotify(socket, 'READY=1\n')
      return true
    } catch (err) {
      // Not worth dying for (systemd, if it is there, times the start out
      // and says so), but never silent: a warning on stderr, the journal.
      const e = err as NodeJS.ErrnoException
      process.emitWarning(`cannot notify systemd at ${socket}: ${e.message}`, { code: 'NODE_DAEMONIZE_NOTIFY' })
      return false
    }
  }
  return false
}

function writeReadyPipe(named: string): boolean {
  if (!/^\d+$/.test(named)) return false
  const fd = Number(named)
  // Only the pipe the launcher gave us: fd 0-2 are stdio and never the
  // pipe; anything but a FIFO means the variable outlived its fd (e.g. it
  // was copied into a process that never had the pipe).
  if (fd < 3) return false
  const { closeSync, fstatSync, writeSync } = fs()
  try {
    if (!fstatSync(fd).isFIFO()) return false
  } catch {
    return false // EBADF: already closed
  }
  try {
    writeSync(fd, 'READY=1\n')
    return true
  } catch {
    // EPIPE: the launcher stopped waiting (timeout with keepOnTimeout).
    return false
  } finally {
    closeSync(fd)
  }
}

/**
 * The listening sockets this process was handed, systemd's way (node-daemonize
 * --listen, or a systemd socket unit): `[{ fd, name }]`, fds from 3 up in the
 * order given, names from LISTEN_FDNAMES ('unknown' when unnamed). Only when
 * LISTEN_PID is this process; otherwise (none, or meant for another process)
 * []. The LISTEN_* variables leave process.env and every fd is marked
 * close-on-exec (the preload has done both already), so the daemon's
 * children inherit neither. Serve one with `server.listen({ fd })`.
 */
export function listenFds(): ListenFd[] {
  const kept = keptListenFds()
  if (kept !== undefined) return kept.map((l) => ({ ...l }))
  if (process.env.LISTEN_PID === undefined && process.env.LISTEN_FDS === undefined) return []
  return takeListenFds(process.env, process.pid, (fd) => native().setCloexec(fd)).map((l) => ({ ...l }))
}

/**
 * This instance's index, 0..N-1, when the service was started with
 * `--instances N` (the same index across its respawns); undefined otherwise.
 */
export function instance(): number | undefined {
  const v = take('INSTANCE')
  return v !== undefined && /^\d{1,2}$/.test(v) ? Number(v) : undefined
}

/** The log file this daemon writes to, when it was started with one. */
export function logFile(): string | undefined {
  return take('LOG_FILE')
}

/**
 * Open the log file again and put it onto fds 1 and 2, so that
 * console.log, process.stdout/stderr and logger() continue in a new file
 * after the old one was renamed (logrotate's `create` mode). The preload
 * does this on SIGHUP; call it yourself when running without the preload.
 * Returns false when the daemon has no log file.
 */
export function reopenLogs(): boolean {
  const path = logFile()
  if (path === undefined) return false
  // The addon opens it non-blocking (a FIFO put in its place cannot hang
  // the main thread), never through a symbolic link, and refuses anything
  // but a regular file with one link, as the launcher did.
  native().redirectOutput(path, 0o640)
  return true
}

/**
 * A pino logger writing to stdout, which is the daemon's log, with the
 * daemon's pid and session id bound. Writes are synchronous, so a line
 * logged just before a crash is in the file, and a reopened log takes
 * every later line. pino loads on the first call.
 */
export function logger(options: LoggerOptions = {}): Logger {
  const pino = loadPino()
  // pino's own default base is { pid, hostname }; base: null drops it.
  const given = options.base === undefined ? { hostname: os().hostname() } : (options.base ?? {})
  const base = { ...given, pid: process.pid, sid: native().getsid(0) }
  return pino({ ...options, base }, pino.destination({ fd: 1, sync: true }))
}
