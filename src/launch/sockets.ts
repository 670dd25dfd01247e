// The daemon's listening sockets, opened by the launcher as the caller
// before anything is spawned (root binds port 80), and systemd's variables
// that describe them to the daemon (LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID).
import { closeSync } from 'node:fs'
import { basename, dirname } from 'node:path'
import { addon } from '../addon.js'
import { DaemonizeError } from '../errors.js'
import { walkDir, type WalkedDir } from '../files/dirwalk.js'
import type { Listener } from '../options/listen.js'
import type { Credentials } from '../options/user.js'

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
