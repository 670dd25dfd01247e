// Opening the daemon's listening sockets (sockets.ts openListeners).
// Reached through socketsOpen() (sockets-open-part.ts), so that the CLI
// compiles it only for a launch with sockets.
import { closeSync } from 'node:fs'
import { basename, dirname } from 'node:path'
import { addon } from '../addon.js'
import { DaemonizeError } from '../errors.js'
import { walkDir, type WalkedDir } from '../files/dirwalk.js'
import type { Listener } from '../options/listen-spec.js'
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

/** openListeners() (sockets.ts) of one socket or more: each opened in order, all closed again on a failure. */
export function openSockets(listeners: Listener[], credentials: Credentials | undefined, umask: number): number[] {
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
    // (as sockets.ts closeListeners does: not imported, which would make a circle)
    for (const fd of opened) {
      try {
        closeSync(fd)
      } catch {
        // already closed
      }
    }
    throw err
  }
  return fds
}

