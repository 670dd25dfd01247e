// Listening sockets for the daemon (docs/sockets.md): the specs resolved
// and checked with the other options, the sockets opened by the launcher
// as the caller before anything is spawned, and systemd's variables that
// describe them to the daemon (LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID).
import { closeSync, fstatSync } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { walkDir, type WalkedDir } from '../files/dirwalk.js'
import { DaemonizeError, optionError, stageError } from '../errors.js'
import { type ListenSpec, parseListenSpec } from './listen-spec.js'
import { native } from '../native.js'
import type { Credentials } from './user.js'

/** systemd's variables, in the daemon's environment. */
export const LISTEN_VARS = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'] as const
/** Is k one of systemd's LISTEN_* variables (never passed on from outside)? */
export function isListenVar(k: string): boolean {
  return (LISTEN_VARS as readonly string[]).includes(k)
}

/** The name of a socket given none (sd_listen_fds_with_names says "unknown" too). */
export const UNNAMED = 'unknown'
/** sun_path holds 108 bytes with its NUL: a longer path cannot be connected to. */
const UNIX_PATH_MAX = 107
/** systemd's first passed fd. */
const SD_LISTEN_FDS_START = 3

/** The addon, loaded on first use: under EMFILE its dlopen fails, and must fail at a stage. */
function addon(): ReturnType<typeof native> {
  try {
    return native()
  } catch (err) {
    throw stageError('helper', 'cannot load the native addon', err)
  }
}

/** One socket the daemon gets: to open from a spec, or handed on from our own activation. */
export type Listener =
  | { spec: ListenSpec; name: string; address: string }
  | { inheritedFd: number; name: string; address: string }

/** A spec as its address reads in messages: tcp:[::]:80, unix:/run/app.sock. */
function addressOf(spec: ListenSpec): string {
  if (spec.kind === 'unix') return `unix:${spec.path}`
  if (spec.host === undefined) return `tcp:${spec.port} (every address)`
  return spec.host.includes(':') ? `tcp:[${spec.host}]:${spec.port}` : `tcp:${spec.host}:${spec.port}`
}

/**
 * The sockets this process was itself started with by systemd (socket
 * activation): LISTEN_PID must be our pid. Each must be an open socket.
 */
function inheritedListeners(): Listener[] {
  const env = process.env
  if (env.LISTEN_PID === undefined || env.LISTEN_FDS === undefined) {
    throw optionError('listenInherited (--listen-inherited): this process was not started with sockets (LISTEN_PID and LISTEN_FDS are not set)')
  }
  if (env.LISTEN_PID !== String(process.pid)) {
    throw optionError(`listenInherited (--listen-inherited): LISTEN_PID is ${env.LISTEN_PID}, not this process (${process.pid}): the sockets are not ours`)
  }
  if (!/^[0-9]{1,4}$/.test(env.LISTEN_FDS)) throw optionError(`listenInherited (--listen-inherited): LISTEN_FDS is not a count: ${env.LISTEN_FDS}`)
  const n = Number(env.LISTEN_FDS)
  const names = env.LISTEN_FDNAMES === undefined ? [] : env.LISTEN_FDNAMES.split(':')
  const out: Listener[] = []
  for (let i = 0; i < n; i++) {
    const fd = SD_LISTEN_FDS_START + i
    let isSocket = false
    try {
      isSocket = fstatSync(fd).isSocket()
    } catch {
      // not open: refused below
    }
    if (!isSocket) throw optionError(`listenInherited (--listen-inherited): fd ${fd} (of LISTEN_FDS=${n}) is not an open socket`)
    const name = names[i] !== undefined && names[i] !== '' ? names[i] : UNNAMED
    out.push({ inheritedFd: fd, name, address: `inherited fd ${fd} (${name})` })
  }
  return out
}

/**
 * The `listen` and `listenInherited` options, checked: inherited sockets
 * first, in their order, then each spec in its order. Opens nothing.
 */
export function resolveListeners(listen: unknown, listenInherited: unknown): Listener[] {
  if (listenInherited !== undefined && typeof listenInherited !== 'boolean') {
    throw optionError(`listenInherited must be a boolean, got ${typeof listenInherited}`)
  }
  if (listen !== undefined && !Array.isArray(listen)) throw optionError('listen must be an array of strings')
  const out: Listener[] = listenInherited ? inheritedListeners() : []
  for (const [i, text] of (listen ?? []).entries()) {
    if (typeof text !== 'string') throw optionError(`listen[${i}] must be a string, got ${typeof text}`)
    let spec = parseListenSpec(text)
    if (spec.kind === 'unix') {
      spec = { ...spec, path: resolve(spec.path) }
      if (Buffer.byteLength(spec.path) > UNIX_PATH_MAX) {
        throw optionError(`--listen ${JSON.stringify(text)}: the socket path ${spec.path} is longer than ${UNIX_PATH_MAX} bytes`, spec.path)
      }
    }
    out.push({ spec, name: spec.name ?? UNNAMED, address: addressOf(spec) })
  }
  if (out.length === 0) return out
  const max = addon().constants.ND_PLAN_SOCKETS_MAX
  if (out.length > max) throw optionError(`at most ${max} listening sockets, got ${out.length}`)
  const seen = new Set<string>()
  for (const l of out) {
    if ('spec' in l && l.spec.kind === 'unix') {
      if (seen.has(l.spec.path)) throw optionError(`the socket path ${l.spec.path} is given twice`, l.spec.path)
      seen.add(l.spec.path)
    }
  }
  return out
}

/** A socket that could not be opened: stage `listen`, the address in the message. */
function listenError(l: Listener, err: unknown): DaemonizeError {
  const e = (err ?? {}) as NodeJS.ErrnoException
  const code = typeof e.code === 'string' ? e.code : 'ERR_UNKNOWN'
  const why =
    code === 'EADDRINUSE'
      ? 'the address is already in use'
      : code === 'EADDRNOTAVAIL'
        ? 'no local interface has this address'
        : code === 'EACCES' && 'spec' in l && l.spec.kind === 'tcp'
          ? 'a privileged port (below net.ipv4.ip_unprivileged_port_start, 1024 by default) needs root or CAP_NET_BIND_SERVICE'
          : code === 'EEXIST'
            ? 'the path exists and is not a socket'
            : (e.message ?? String(err))
  return new DaemonizeError(`cannot listen on ${l.address}: ${why}`, {
    stage: 'listen',
    code,
    errno: typeof e.errno === 'number' ? e.errno : undefined,
    syscall: typeof e.syscall === 'string' ? e.syscall : undefined,
    path: 'spec' in l && l.spec.kind === 'unix' ? l.spec.path : undefined,
    cause: err,
  })
}

/**
 * A unix socket at path (absolute). Its directory is reached from `/`
 * through fds, every directory on the way passing the state directories'
 * rule (dirwalk.ts: owned by root or the caller, writable by nobody else
 * unless sticky; a symbolic link followed only when root or the caller
 * owns it), so a link the service user planted in a directory it can
 * write never takes the socket elsewhere; the socket is then made in that
 * directory fd (listenUnixAt), never by a path.
 */
function listenUnix(path: string, credentials: Credentials | undefined, mode: number): number {
  const dir = walkDir(dirname(path), { stage: 'listen' }) as WalkedDir
  try {
    return addon().listenUnixAt(dir.fd, basename(path), path, credentials?.uid ?? -1, credentials?.gid ?? -1, mode)
  } finally {
    closeSync(dir.fd)
  }
}

/**
 * Open, bind and listen on every socket, as the calling user, in order.
 * A unix socket file gets the daemon's owner (credentials) and mode
 * 0666 & ~umask, as if the daemon had bound it itself. Returns the fds
 * (close-on-exec; inherited ones as they are); on a failure every socket
 * opened so far is closed and a DaemonizeError (stage `listen`) thrown.
 */
export function openListeners(listeners: Listener[], credentials: Credentials | undefined, umask: number): number[] {
  const fds: number[] = []
  const opened: number[] = []
  try {
    for (const l of listeners) {
      if ('inheritedFd' in l) {
        fds.push(l.inheritedFd)
        continue
      }
      let fd: number
      try {
        fd =
          l.spec.kind === 'tcp'
            ? addon().listenTcp(l.spec.host ?? '', l.spec.port)
            : listenUnix(l.spec.path, credentials, 0o666 & ~umask)
      } catch (err) {
        throw listenError(l, err)
      }
      opened.push(fd)
      fds.push(fd)
    }
  } catch (err) {
    closeListeners(opened)
    throw err
  }
  return fds
}

/** Close the sockets this launch opened (never the inherited ones). */
export function closeListeners(fds: number[]): void {
  for (const fd of fds) {
    try {
      closeSync(fd)
    } catch {
      // already closed
    }
  }
}

/** The fds openListeners opened itself (inherited ones stay ours to keep). */
export function ownedListenerFds(listeners: Listener[], fds: number[]): number[] {
  return fds.filter((_, i) => !('inheritedFd' in listeners[i]))
}

/**
 * systemd's variables for n sockets, LISTEN_PID last: its value is a slot
 * of placeholder digits each daemon overwrites with its own pid between
 * fork and exec (native/protocol.h).
 */
export function listenEnv(listeners: Listener[]): string[] {
  if (listeners.length === 0) return []
  const digits = addon().constants.ND_LISTEN_PID_DIGITS
  return [
    `LISTEN_FDS=${listeners.length}`,
    `LISTEN_FDNAMES=${listeners.map((l) => l.name).join(':')}`,
    `LISTEN_PID=${'0'.repeat(digits)}`,
  ]
}
