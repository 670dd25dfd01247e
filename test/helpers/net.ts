// Ports and connections for the socket tests: a port nobody holds, and one
// request/response over a fresh connection.
import { request } from 'node:http'
import { connect, createServer, type Server } from 'node:net'

/** Can host:port be bound right now (as the test runner, root)? */
function bindable(port: number, host: string, ipv6Only = false): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen({ port, host, ipv6Only, exclusive: true }, () => s.close(() => resolve(true)))
  })
}

/**
 * A port free on every address, IPv4 and IPv6, drawn from [low, high):
 * below the kernel's ephemeral range (32768 up) by default, so that no
 * outgoing connection of another process is handed it meanwhile.
 */
export async function freePort(low = 20000, high = 32000): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = low + Math.floor(Math.random() * (high - low))
    if ((await bindable(port, '0.0.0.0')) && (await bindable(port, '::', true))) return port
  }
  throw new Error(`no free port in [${low}, ${high})`)
}

/** Hold host:port with a plain listener of the test's own. */
export function holdPort(port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer((c) => c.destroy())
    s.once('error', reject)
    s.listen({ port, host, exclusive: true }, () => resolve(s))
  })
}

/**
 * A probe for until() (which does not await): each call that finds no
 * attempt under way starts a connection to 127.0.0.1:port; true once one
 * was refused.
 */
export function refusedProbe(port: number): () => boolean {
  let refused = false
  let trying = false
  return () => {
    if (!trying && !refused) {
      trying = true
      const c = connect(port, '127.0.0.1')
      c.once('connect', () => {
        trying = false
        c.destroy()
      })
      c.once('error', (e: NodeJS.ErrnoException) => {
        trying = false
        refused = e.code === 'ECONNREFUSED'
      })
    }
    return refused
  }
}

export type Target = { port: number; host?: string } | { path: string }

/** Connect, send `send` (if any), and read until the server closes: the whole answer. */
export function ask(target: Target, send?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = 'path' in target ? connect(target.path) : connect(target.port, target.host ?? '127.0.0.1')
    let out = ''
    c.setEncoding('utf8')
    c.on('connect', () => {
      if (send !== undefined) c.write(send)
    })
    c.on('data', (s: string) => (out += s))
    c.on('error', reject)
    c.on('close', (hadError) => {
      if (!hadError) resolve(out)
    })
  })
}

export interface HttpAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** One GET on a fresh connection (no agent, no keep-alive pool). */
export function get(target: Target, path: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const where = 'path' in target ? { socketPath: target.path } : { host: target.host ?? '127.0.0.1', port: target.port }
    const req = request({ ...where, path, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (s: string) => (body += s))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}
