// The native surface, typed once. Everything that crosses into C goes
// through this module; the rest of the package never touches the addon.
import { closeSync, existsSync, openSync, readSync } from 'node:fs'
import { join } from 'node:path'
import { addonRegistry } from './addon-registry.js'
import { packageRoot } from './package-root.js'
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
   * `run`: replace this process with the helper as the supervisor in the foreground (native/pid1.h), the plan in a
   * sealed memfd at fd 3, stdio untouched, logFd (or a copy of stderr: -1) at 5, readyDirFd (-1: none) at 6, the
   * sockets from 9. Never returns; throws only before anything was changed.
   */
  execSupervisor(helperPath: string, plan: Buffer, logFd: number, readyDirFd: number, socketFds: number[]): never
  /**
   * posix_spawn the helper with the plan on fd 3; returns its pid and the read end of the status pipe.
   * lockFd (the locked lock file) becomes the daemon's fd 3 (3+N after N sockets); pidFd (the pid file) is the helper's
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
    /** With --respawn: the supervisor's state file (the helper's fd 8), kept by the supervisor. */
    stateFd?: number,
    /** Its path: the cleanup hook removes it too (only if it is still that file). */
    statePath?: string,
    /** Listening sockets: the helper's fds 9.. in order (the plan's nsockets). */
    socketFds?: number[],
  ): { pid: number; statusFd: number }
  /**
   * socket, SO_REUSEADDR, bind and listen; host '' is every address (IPv6
   * dual-stack, or IPv4 without IPv6). Returns the fd (close-on-exec).
   */
  listenTcp(host: string, port: number): number
  /**
   * A unix socket `name` in the directory dirfd (opened and checked by the
   * caller, who keeps it), bound in a private directory there, given
   * uid/gid (-1: unchanged) and mode, then renamed into place; a stale
   * socket file is replaced, a live one is EADDRINUSE. `path` names it in
   * errors. Returns the fd.
   */
  listenUnixAt(dirfd: number, name: string, path: string, uid: number, gid: number, mode: number): number
  /** openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode): name is one entry (no '/', not '.' or '..'); path names it in an error. */
  openAt(dirfd: number, name: string, flags: number, mode?: number, path?: string): number
  /** The entry `name` of dirfd itself, a symbolic link included: an O_PATH|O_NOFOLLOW fd (fstat it; readLinkAt a link). */
  openEntryAt(dirfd: number, name: string): number
  /** The target of the symbolic link an openEntryAt fd names. */
  readLinkAt(fd: number): Buffer
  /** mkdirat: true when made, false when something of that name was there (EEXIST). */
  mkdirAt(dirfd: number, name: string, mode: number): boolean
  /** unlinkat(dirfd, name, 0): the entry itself (a symbolic link is removed, never followed); path names it in an error. */
  unlinkAt(dirfd: number, name: string, path?: string): void
  /** unlinkat(dirfd, name, AT_REMOVEDIR): only an empty directory (else ENOTEMPTY); path names it in an error. */
  rmdirAt(dirfd: number, name: string, path?: string): void
  /** Mark fd close-on-exec. */
  setCloexec(fd: number): void
  /**
   * The open files of a process as /proc/<pid>/fd (or a thread's fd dir) lists them: [fd, dev, ino, ...] for each
   * entry whose target could be stat'ed. Throws as readdirSync would when dir cannot be opened (syscall "scandir").
   */
  procFdStats(dir: string): number[]
  /**
   * Open path O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_NOCTTY, fstat the fd and, for a regular file, read from its start to
   * its end, at most maxBytes + 1 bytes (whatever its size said); null when it does not exist. Other failures throw (syscall "open", "fstat" or "read").
   */
  readUntrusted(
    path: string,
    maxBytes: number,
    /** Keep the fd open and return it (the caller closes it). */
    keepOpen?: boolean,
  ): { mode: number; uid: number; nlink: number; size: number; dev: number; ino: number; data?: Buffer; fd?: number } | null
  /** The directory walk of files/dirwalk.ts (flags: 1 create, 2 allow missing, 4 readable); what failed comes back as data. */
  walkDir(path: string, me: number, flags: number, between: number, last: number): unknown
  /** Whether fd is a terminal (false for a closed fd), as node:tty's isatty without loading node:tty. */
  isatty(fd: number): boolean
  /**
   * _exit(2) with code (0..255): the process ends at once, without Node's teardown (no exit event, no
   * atexit handlers, no platform shutdown). Only for a CLI run whose output is all written (src/cli/command.ts).
   * Returns false, and does nothing, when fd 0, 1 or 2 is in non-blocking mode (Node's teardown puts that back).
   */
  exitNow(code: number): false
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

/**
 * The addon at path, loaded once per JavaScript environment (as require()
 * would: every copy of this module, the library's and a CLI bundle's, gets
 * the same one), but with process.dlopen itself: require() resolves the
 * path, walks it for symbolic links and sets up a module first, ~1 ms of a
 * command's start-up (issue 23).
 */
function dlopen(path: string): Native {
  const addons = addonRegistry<Native>()
  let addon = addons.get(path)
  if (addon === undefined) {
    const mod = { exports: {} as Native }
    process.dlopen(mod, path)
    addon = mod.exports
    addons.set(path, addon)
  }
  return addon
}

const ADDON = 'node_daemonize.node'
const HELPER = 'node-daemonize-helper'

/** The command that builds the binaries from source (a C/C++ compiler, make and python needed). */
export const BUILD_FROM_SOURCE = 'NODE_DAEMONIZE_BUILD_FROM_SOURCE=1 npm rebuild node-daemonize'

/** A directory that may hold the addon and the helper, side by side. */
export interface Candidate {
  dir: string
  /**
   * Set when the directory is known not to serve here without trying it; a
   * function is asked only when the candidates before it did not serve.
   */
  skip?: string | (() => string | undefined)
}

/**
 * This Node runs on musl rather than glibc: the program interpreter its
 * executable names (PT_INTERP) is musl's loader, /lib/ld-musl-<arch>.so.1.
 * What Node itself links against decides, not what is installed: a glibc
 * system may carry musl's loader too. Cheap: one read of the ELF headers.
 */
export function isMusl(exe = '/proc/self/exe'): boolean {
  let fd = -1
  try {
    fd = openSync(exe, 'r')
    const head = Buffer.alloc(4096)
    const n = readSync(fd, head, 0, head.length, 0)
    // A 64-bit little-endian ELF (every Linux the package supports).
    if (n < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return false
    const phoff = Number(head.readBigUInt64LE(0x20))
    const phentsize = head.readUInt16LE(0x36)
    const phnum = head.readUInt16LE(0x38)
    for (let i = 0; i < phnum; i++) {
      const at = phoff + i * phentsize
      if (at + 56 > n) return false
      if (head.readUInt32LE(at) !== 3) continue // PT_INTERP
      const offset = Number(head.readBigUInt64LE(at + 8))
      const size = Math.min(Number(head.readBigUInt64LE(at + 32)), 256)
      const interp = Buffer.alloc(size)
      readSync(fd, interp, 0, size, offset)
      return interp.toString('latin1').includes('/ld-musl-')
    }
    return false // static: no loader to tell by
  } catch {
    return false
  } finally {
    if (fd >= 0) closeSync(fd)
  }
}

/**
 * Where the binaries are looked for, in order: a local build (build/Release,
 * then build/Debug) wins; then the prebuild for this platform and architecture
 * shipped in the package (glibc only: on musl the addon is built from source).
 */
export function candidates(root = packageRoot): Candidate[] {
  const list: Candidate[] = [{ dir: join(root, 'build', 'Release') }, { dir: join(root, 'build', 'Debug') }]
  const prebuild = join(root, 'prebuilds', `${process.platform}-${process.arch}`)
  // Asked only when no local build loaded: reading Node's ELF headers is work
  // every command that loads the addon would pay for nothing.
  list.push({ dir: prebuild, skip: () => (isMusl() ? 'a glibc build, and this system uses musl' : undefined) })
  return list
}

function firstLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e)
  return message.split('\n')[0]
}

/**
 * Loads the addon from the first candidate where it and the helper are both
 * present and the addon loads; one that fails (wrong CPU, too old a glibc, a
 * damaged file) falls through to the next. The error names every candidate
 * and why it failed, and how to build from source.
 */
export function loadFrom(list: Candidate[]): { addon: Native; dir: string } {
  const tried: string[] = []
  for (const { dir, skip: skipOrAsk } of list) {
    const addon = join(dir, ADDON)
    const skip = typeof skipOrAsk === 'function' ? skipOrAsk() : skipOrAsk
    if (skip !== undefined) {
      tried.push(`${dir}: skipped: ${skip}`)
      continue
    }
    if (!existsSync(join(dir, HELPER))) {
      tried.push(existsSync(addon) ? `${dir}: ${ADDON} but no ${HELPER} beside it` : `${dir}: no ${ADDON}`)
      continue
    }
    try {
      return { addon: dlopen(addon), dir }
    } catch (e) {
      tried.push(existsSync(addon) ? `${dir}: ${firstLine(e)}` : `${dir}: no ${ADDON}`)
    }
  }
  const err = new Error(
    `node-daemonize: no native addon could be loaded for ${process.platform}-${process.arch}. Tried:\n` +
      tried.map((t) => `  - ${t}\n`).join('') +
      `Build it from source (needs a C/C++ compiler, make and python3): ${BUILD_FROM_SOURCE}`,
  ) as NativeError
  err.code = 'ERR_DLOPEN_FAILED'
  throw err
}

let loaded: Native | undefined
let loadedDir: string | undefined

/** The addon, loaded on first use. */
export function native(): Native {
  if (loaded === undefined) {
    if (process.platform !== 'linux') {
      const err = new Error(`node-daemonize runs on Linux only, not ${process.platform}`) as NativeError
      err.code = 'ERR_DLOPEN_FAILED'
      throw err
    }
    const { addon, dir } = loadFrom(candidates())
    loaded = addon
    loadedDir = dir
  }
  return loaded
}

/** Absolute path of the helper executable: the one beside the addon that loaded. */
export function helperPath(): string {
  native()
  return join(loadedDir as string, HELPER)
}

export { packageRoot }
