// Graceful shutdown of a server (docs/sockets.md): stop accepting, close
// idle keep-alive connections, let requests in flight finish and answer
// them with `Connection: close`, then resolve. Public APIs only: responses
// in flight are known through a 'request' listener that drainable()
// installs (call it when the server is made); without it they still
// finish, and their connections are closed as soon as they are idle.
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http'
import type { Server as NetServer } from 'node:net'

type AnyServer = NetServer | HttpServer

interface Tracked {
  inFlight: Set<ServerResponse>
  draining: boolean
}

const tracked = new WeakMap<AnyServer, Tracked>()

function isHttp(server: AnyServer): server is HttpServer {
  return typeof (server as HttpServer).closeIdleConnections === 'function'
}

function trackingOf(server: AnyServer): Tracked {
  let t = tracked.get(server)
  if (t === undefined) {
    t = { inFlight: new Set(), draining: false }
    tracked.set(server, t)
  }
  return t
}

/** During a drain, a response's connection ends with it. */
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
 * new connections wait in its backlog for the next process), close idle
 * keep-alive connections, answer the requests in flight with `Connection:
 * close`, and resolve once every connection has ended: true, or false when
 * timeoutMs ran out and the rest were destroyed. For a net.Server (not
 * HTTP), connections are left to end on their own until the timeout.
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
    server.close(() => done(true))
    if (isHttp(server)) {
      const t = trackingOf(server)
      t.draining = true
      for (const res of t.inFlight) {
        closeAfter(res)
        // Headers already sent: the connection is idle once this ends.
        res.once('finish', () => setImmediate(() => server.closeIdleConnections()))
      }
      t.inFlight.clear()
      server.closeIdleConnections()
      // Requests without drainable(): their connections close when idle.
      server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
        closeAfter(res)
        res.once('finish', () => setImmediate(() => server.closeIdleConnections()))
      })
    }
    timer = setTimeout(() => {
      if (isHttp(server)) server.closeAllConnections()
      done(false)
    }, timeoutMs)
    timer.unref?.()
  })
}
