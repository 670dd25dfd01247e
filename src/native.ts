// The native surface, typed once. Everything that crosses into C goes
// through this module; the rest of the package never touches the addon.
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { NativeConstants } from './protocol.js'

/** A SystemError as the addon throws it: like Node's own. */
export interface NativeError extends Error {
  code: string
  errno: number
  syscall: string
  path?: string
}

export interface StageInfo {
  id: number
  name: string
  syscall: string
}

export interface UserEntry {
  name: string
  uid: number
  gid: number
  home: string
  shell: string
}

export interface GroupEntry {
  name: string
  gid: number
}

export interface FdWatcher {
  close(): void
}

export type { NativeConstants } from './protocol.js'

export interface Native {
  /**
   * posix_spawn the helper with the plan on fd 3; returns its pid and the read end of the status pipe.
   * lockFd (the locked lock file) becomes the daemon's fd 3; pidFd (the pid file) is the helper's
   * alone: it writes the daemon's pid into it and closes it. -1: none.
   * Until waitPid(pid), the launch is in flight: if this environment ends first (a Worker
   * terminated), a cleanup hook kills the helper and its session, reaps it, closes the status,
   * log, lock-file and pid-file fds, and unlinks pidPath and lockPath (each only when it is still
   * the file that was handed over).
   */
  spawnHelper(
    helperPath: string,
    plan: Buffer,
    logFd: number,
    lockFd: number,
    pidFd: number,
    lockPath?: string,
    pidPath?: string,
  ): { pid: number; statusFd: number }
  /** Blocking waitpid: only for a child known to be exiting. Ends the launch's in-flight tracking. */
  waitPid(pid: number): number
  /**
   * SIGKILL every live process of session sid but its leader (through pidfds, after
   * re-checking getsid), until none is left or timeoutMs (default 2000) ran out. Call
   * it while the leader (the helper) is still unreaped, so the id cannot name a new session.
   */
  killSession(sid: number, timeoutMs?: number): { killed: number; left: number }
  decodeWaitStatus(status: number): { code: number | null; signal: number | null }
  stages: StageInfo[]
  /** Syscalls a record can name besides its stage's usual one. */
  syscalls: { id: number; name: string }[]
  constants: NativeConstants
  getsid(pid?: number): number
  getpgid(pid?: number): number
  /** OFD write lock without waiting; false when another open file holds it. */
  lockFile(fd: number): boolean
  /** Tests for another open file's WRITE lock (OFD, POSIX or flock-emulated) without taking one; a read lock is not one. */
  isLocked(fd: number): boolean
  pidfdOpen(pid: number): number
  pidfdSendSignal(pidfd: number, signal: number): void
  /** Calls onReadable(status, events) from the event loop while fd is readable or hung up. */
  FdWatcher: new (fd: number, onReadable: (status: number, events: number) => void) => FdWatcher
  lookupUser(nameOrUid: string | number): UserEntry | null
  lookupGroup(nameOrGid: string | number): GroupEntry | null
  groupList(user: string, gid: number): number[]
  /** One datagram to a notify socket; with barrierMs, waits for the manager to confirm (returns whether it did). */
  sdNotify(socketPath: string, message: string, barrierMs?: number): boolean
  redirectOutput(path: string, mode: number): void
}

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)

function buildDir(): string {
  for (const kind of ['Release', 'Debug']) {
    const dir = join(packageRoot, 'build', kind)
    if (existsSync(join(dir, 'node_daemonize.node'))) return dir
  }
  const err = new Error(
    `node-daemonize: the native addon is not built (looked in ${join(packageRoot, 'build')}); run \`npm rebuild node-daemonize\``,
  ) as NativeError
  err.code = 'ERR_DLOPEN_FAILED'
  throw err
}

let loaded: Native | undefined
let loadedDir: string | undefined

/** The addon, loaded on first use. */
export function native(): Native {
  if (loaded === undefined) {
    if (process.platform !== 'linux' && process.platform !== 'darwin') {
      throw new Error(`node-daemonize supports Linux (and builds on macOS), not ${process.platform}`)
    }
    loadedDir = buildDir()
    loaded = require(join(loadedDir, 'node_daemonize.node')) as Native
  }
  return loaded
}

/** Absolute path of the helper executable, next to the addon. */
export function helperPath(): string {
  native()
  return join(loadedDir as string, 'node-daemonize-helper')
}

export { packageRoot }
