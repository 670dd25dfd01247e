// Loaded with --require into every daemon (unless --no-preload). Kept tiny:
// it runs before the user's code on every start, and loads nothing else
// (but the contract's few constants) until a SIGHUP arrives.
//  - takes the NODE_DAEMONIZE_* variables out of process.env, so the
//    daemon's own children never see them, and keeps them for ready() and
//    reopenLogs() on a global symbol (see state.ts);
//  - reopens the log on SIGHUP, when there is one (and the variables are
//    this contract's: see contract.cts);
//  - with sockets passed (LISTEN_PID is this process), takes systemd's
//    LISTEN_* variables out of process.env as sd_listen_fds(1) does and
//    marks every passed fd close-on-exec, so the daemon's children inherit
//    neither (listenFds() returns them). Node marks only some inherited
//    fds, and has no fcntl: this loads the addon, only when there are fds.
import { CONTRACT, contractMismatch, ENV_PREFIX, LOG_FILE, STATE_KEY } from './contract.cjs'
import { takeListenFds } from './listen-fds.cjs'

const state: Record<string, string> = {}
for (const key of Object.keys(process.env)) {
  if (key.startsWith(ENV_PREFIX)) {
    state[key.slice(ENV_PREFIX.length)] = process.env[key] as string
    delete process.env[key]
  }
}
;(globalThis as Record<symbol, unknown>)[Symbol.for(STATE_KEY)] = state

interface NativeModule {
  native(): { setCloexec(fd: number): void }
}
if (process.env.LISTEN_PID !== undefined || process.env.LISTEN_FDS !== undefined) {
  takeListenFds(process.env, process.pid, (fd) => (require('../native.js') as NativeModule).native().setCloexec(fd))
}
const logPath = contractMismatch(state[CONTRACT]) === undefined ? state[LOG_FILE] : undefined

interface DaemonModule {
  reopenLogs(): boolean
}
interface LogModule {
  fdLogger(fd: number, bindings?: Record<string, unknown>): { error(obj: object, msg: string): void }
}

// A listener, not a replacement: a handler the daemon installs itself runs
// too, after this one, so what it logs already lands in the new file.
// Without a log file there is nothing to reopen, and SIGHUP keeps its
// meaning (the default: terminate).
if (logPath !== undefined) {
  process.on('SIGHUP', function reopenLogOnHangup() {
    try {
      ;(require('./index.js') as DaemonModule).reopenLogs()
    } catch (err) {
      // Keep writing to the old file rather than die; say why there.
      const e = err as NodeJS.ErrnoException
      const log = (require('../logger.js') as LogModule).fdLogger(2, { path: logPath })
      log.error({ code: e.code, errno: e.errno, syscall: e.syscall }, `cannot reopen the log: ${e.message}`)
    }
  })
}
