// The `listen` and `listenInherited` options (docs/sockets.md): each socket
// the daemon gets, resolved and checked with the other options, before
// anything is opened (the launch opens them: launch/sockets.ts). And
// systemd's variables that describe them, which never come from outside.
// Resolving the sockets given is listen-given.ts, compiled only when there
// are some (listen-given-part.ts).
import { optionError } from '../errors.js'
import { listenGiven } from './listen-given-part.js'
import type { Listener } from './listen-spec.js'

export type { Listener } from './listen-spec.js'

/** systemd's variables, in the daemon's environment. */
export const LISTEN_VARS = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'] as const
/** Is k one of systemd's LISTEN_* variables (never passed on from outside)? */
export function isListenVar(k: string): boolean {
  return (LISTEN_VARS as readonly string[]).includes(k)
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
  if (!listenInherited && (listen === undefined || listen.length === 0)) return []
  return listenGiven().resolveGivenListeners(listen, listenInherited === true)
}
