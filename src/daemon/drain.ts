// Graceful shutdown of a server (docs/sockets.md#drain): stop accepting,
// let every keep-alive connection end on a response that says `Connection:
// close` (or on the server's keepAliveTimeout when it stays idle), then
// resolve. An idle keep-alive connection is never closed at once: the
// client's next request may already be on its way, and a client that does
// not retry would lose it. Public APIs only: responses in flight are known
// through a 'request' listener that drainable() installs (call it when the
// server is made); without it, drain() still marks every request that
// arrives once it has begun.
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http'
import { Server as NetServer } from 'node:net'

type AnyServer = NetServer | HttpServer

interface Tracked {
  inFlight: Set<ServerResponse>
  draining: boolean
  /** drainable() was called: its listener marks the requests of a drain. */
  listening: boolean
}

const tracked = new WeakMap<AnyServer, Tracked>()

function isHttp(server: AnyServer): server is HttpServer {
  return typeof (server as HttpServer).closeIdleConnections === 'function'
}

function trackingOf(server: AnyServer): Tracked {
  let t = tracked.get(server)
  if (t === undefined) {
    t = { inFlight: new Set(), draining: false, listening: false }
    tracked.set(server, t)
  }
  return t
}

/** During a drain, a response's connection ends with it (Node ends the socket after a `close` response). */
function closeAfter(res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('Connection', 'close')
}

/**
 * Track an HTTP server's responses in flight, so that drain() can answer
 * each with `Connection: close`. Call it once, when the server is created
 * (before it gets requests). Returns the server.
 */
export function drainable<S extends AnyServer>(server: S): S {
  if (!isHttp(server)) return server
  const t = trackingOf(server)
  if (t.listening) return server
  t.listening = true
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (t.draining) {
      closeAfter(res)
      return
    }
    t.inFlight.add(res)
    res.once('close', () => t.inFlight.delete(res))
  })
  return server
}

export interface DrainOptions {
  /** After this long, the connections still open are destroyed. Default 10000 ms. */
  timeoutMs?: number
}

/**
 * Stop accepting connections on `server` (its listening socket is closed:
 * under node-daemonize the socket itself stays open in the supervisor, so
 * new connections wait in its backlog for the next process), answer every
 * request from now on, and those in flight, with `Connection: close`, leave
 * idle keep-alive connections open until their next request (answered with
 * `close`) or the server's keepAliveTimeout, and resolve once every
 * connection has ended: true, or false when timeoutMs ran out and the rest
 * were destroyed. For a net.Server (not HTTP), connections are left to end
 * on their own until the timeout.
 */
export function drain(server: AnyServer, options: DrainOptions = {}): Promise<boolean> {
  const timeoutMs = options.timeoutMs ?? 10_000
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined
    const done = (clean: boolean) => {
      if (timer !== undefined) clearTimeout(timer)
      resolve(clean)
    }
    if (!server.listening) {
      done(true)
      return
    }
    if (isHttp(server)) {
      const t = trackingOf(server)
      t.draining = true
      for (const res of t.inFlight) closeAfter(res)
      t.inFlight.clear()
      // Without drainable(): mark the requests of the drain before the application's handler answers them.
      if (!t.listening) server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => closeAfter(res))
    }
    // net.Server's close, not http.Server's: since Node 19 the latter also
    // closes every idle keep-alive connection (closeIdleConnections()), and
    // a request already on its way on one of them would be reset. This
    // closes the listening handle only, and calls back once the last
    // connection has ended.
    NetServer.prototype.close.call(server, () => done(true))
    timer = setTimeout(() => {
      if (isHttp(server)) server.closeAllConnections()
      done(false)
    }, timeoutMs)
    timer.unref?.()
  })
}
