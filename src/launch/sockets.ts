// The daemon's listening sockets, opened by the launcher as the caller
// before anything is spawned (root binds port 80), and systemd's variables
// that describe them to the daemon (LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID).
// Opening them is sockets-open.ts, compiled only when there are some
// (sockets-open-part.ts).
import { closeSync } from 'node:fs'
import { addon } from '../addon.js'
import type { Listener } from '../options/listen.js'
import type { Credentials } from '../options/user.js'
import { socketsOpen } from './sockets-open-part.js'

/**
 * Open, bind and listen on every socket, as the calling user, in order.
 * A unix socket file gets the daemon's owner (credentials) and mode
 * 0666 & ~umask, as if the daemon had bound it itself. Returns the fds
 * (close-on-exec; inherited ones as they are); on a failure every socket
 * opened so far is closed and a DaemonizeError (stage `listen`) thrown.
 */
export function openListeners(listeners: Listener[], credentials: Credentials | undefined, umask: number): number[] {
  if (listeners.length === 0) return []
  return socketsOpen().openSockets(listeners, credentials, umask)
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
