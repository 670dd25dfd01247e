// drain() and drainable() (src/daemon/drain.ts) with real HTTP servers and
// clients: keep-alive clients that never retry lose no request through a
// drain (each connection ends on a response that says `Connection: close`),
// an idle keep-alive connection stays open until its next request or the
// server's keepAliveTimeout, a request in flight completes; and a real
// `restart --graceful` under 20 busy keep-alive clients that never retry
// fails no request.
// Issue 21, "a drain that loses no keep-alive request": drain() closed idle
// keep-alive connections at once (closeIdleConnections(), which Node 20's
// http.Server.close() also does), resetting the request a client had
// already sent on one: one lost request per connection and restart.
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { drain, drainable } from '../src/daemon/drain.js'
import { fixtures } from './helpers/caller.js'
import { runCli } from './helpers/cli.js'
import { startLoad } from './helpers/load.js'
import { freePort, refusedProbe } from './helpers/net.js'
import { dir, pids, setUpServices, startService } from './helpers/services.js'
import { until } from './helpers/wait.js'

const servers: Server[] = []
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    s.close()
  }
})

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void, tracked = true): Promise<{ server: Server; port: number }> {
  const server = createServer(handler)
  if (tracked) drainable(server)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve))
  return { server, port: (server.address() as AddressInfo).port }
}

interface Answer {
  status?: number
  connection?: string
  socket: Socket
  error?: NodeJS.ErrnoException
}

function get(port: number, agent: Agent): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection, socket: req.socket! }))
      res.on('error', (error) => resolve({ error, socket: req.socket! }))
    })
    req.on('error', (error) => resolve({ error, socket: req.socket! }))
    req.end()
  })
}

/** Raw HTTP/1.1 over one connection: send a GET, read one whole response (the body is "ok"). */
function rawGet(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const onClose = () => reject(new Error(`the connection closed before a whole response: ${JSON.stringify(text)}`))
    const onData = (d: Buffer) => {
      text += d.toString('latin1')
      if (text.includes('\r\n\r\n') && text.endsWith('ok')) {
        socket.off('data', onData)
        socket.off('error', reject)
        socket.off('close', onClose)
        resolve(text)
      }
    }
    socket.on('data', onData)
    socket.once('error', reject)
    socket.once('close', onClose)
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  })
}

function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' }, () => resolve(s))
    s.once('error', reject)
  })
}

const ended = (s: Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())))

describe('drain()', () => {
  it('20 busy keep-alive clients that never retry: no request fails, every connection ends on a `Connection: close` response, drain resolves true', async () => {
    // A few ms per answer, so that at any moment some connections are idle
    // on the server's side while their client's next request is on its way.
    const { server, port } = await serve((_req, res) => setTimeout(() => res.end('ok'), 1 + Math.floor(Math.random() * 3)))
    let answers = 0
    const client = async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 })
      const sockets = new Set<Socket>()
      let last: Answer | undefined
      // Until the server says the connection ends; with no successor listening, a new one would be refused.
      for (;;) {
        last = await get(port, agent)
        sockets.add(last.socket)
        if (last.error !== undefined || last.connection === 'close') break
        answers++
      }
      agent.destroy()
      return { last, connections: sockets.size }
    }
    const clients = Array.from({ length: 20 }, client)
    await until('every client busy', () => answers > 200)
    const clean = await drain(server, { timeoutMs: 10_000 })
    const results = await Promise.all(clients)
    expect(results.map((r) => r.last.error?.code ?? r.last.error?.message ?? null)).toEqual(Array(20).fill(null))
    expect(results.map((r) => [r.last.status, r.last.connection])).toEqual(Array(20).fill([200, 'close']))
    // One connection per client, from its first request to the `close` one.
    expect(results.map((r) => r.connections)).toEqual(Array(20).fill(1))
    expect(clean).toBe(true)
  })

  it('an idle keep-alive connection stays open through the drain until the server\'s keepAliveTimeout ends it; drain then resolves true', async () => {
    const { server, port } = await serve((_req, res) => res.end('ok'))
    server.keepAliveTimeout = 1000
    let serverSide: Socket | undefined
    server.once('connection', (c: Socket) => (serverSide = c))
    const socket = await rawConnect(port)
    expect(await rawGet(socket)).toMatch(/\r\nConnection: keep-alive\r\n/i)
    let settled = false
    const drained = drain(server, { timeoutMs: 10_000 }).then((clean) => {
      settled = true
      // The connection had ended when the drain resolved.
      return [clean, serverSide!.destroyed]
    })
    // The listening socket closes at once (a new connection is refused); the idle connection does not.
    await until('the port to refuse connections', refusedProbe(port))
    expect([socket.destroyed, serverSide!.destroyed, settled]).toEqual([false, false, false])
    // Resolved true: the connection ended before the drain's own timeout destroyed it.
    expect(await drained).toEqual([true, true])
    // Ended by the server (its keepAliveTimeout), seen by the client as the end of the stream.
    await ended(socket)
  })

  for (const tracked of [true, false]) {
    it(`the next request on an idle keep-alive connection during the drain is answered, with \`Connection: close\`, and the connection ends (${tracked ? 'with' : 'without'} drainable())`, async () => {
      const { server, port } = await serve((_req, res) => res.end('ok'), tracked)
      const socket = await rawConnect(port)
      expect(await rawGet(socket)).toMatch(/^HTTP\/1\.1 200 /)
      const drained = drain(server, { timeoutMs: 10_000 })
      const second = await rawGet(socket)
      expect(second).toMatch(/^HTTP\/1\.1 200 /)
      expect(second).toMatch(/\r\nConnection: close\r\n/i)
      await ended(socket)
      expect(await drained).toBe(true)
    })
  }

  it('a request in flight when the drain begins completes, with `Connection: close`; drain resolves after it', async () => {
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    let arrived!: () => void
    const inHandler = new Promise<void>((r) => (arrived = r))
    const { server, port } = await serve((_req, res) => {
      arrived()
      void held.then(() => res.end('ok'))
    })
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const answer = get(port, agent)
    await inHandler
    let drainedFirst = false
    const drained = drain(server, { timeoutMs: 10_000 }).then((clean) => ((drainedFirst = true), clean))
    await new Promise((r) => setImmediate(r))
    expect(drainedFirst).toBe(false)
    release()
    const a = await answer
    expect([a.error, a.status, a.connection]).toEqual([undefined, 200, 'close'])
    expect(await drained).toBe(true)
    agent.destroy()
  })
})

describe('restart --graceful with keep-alive clients that never retry', () => {
  setUpServices()

  it('3 graceful restarts under 20 busy keep-alive clients that never retry: 0 failed requests, every generation served', { timeout: 90_000 }, async () => {
    const port = await freePort()
    const pidFile = join(dir, 'app.pid')
    const s = startService([join(fixtures, 'graceful-http.mjs'), '--log-file', join(dir, 'app.log'), '--respawn', '--stop-timeout', '5s',
      '--wait-ready', '20s', '--listen', `tcp:127.0.0.1:${port}`, '--', dir], pidFile)
    const load = startLoad(port, { plain: 0, keepAlive: 20, retry: false, path: '/work/2' })
    try {
      await until('answers from the first generation', () => load.stats.ok > 100 || load.stats.failed > 0)
      const served = [s.pid]
      for (let i = 1; i <= 3; i++) {
        const r = await runCli(['restart', '--graceful', '--pid-file', pidFile, '--json'])
        expect(r.code, r.err).toBe(0)
        const pid = (JSON.parse(r.out) as { daemonPid: number }).daemonPid
        pids.add(pid)
        served.push(pid)
        await until(`answers from generation ${i}`, () => (load.stats.byPid.get(pid) ?? 0) > 100 || load.stats.failed > 0)
      }
      const stats = await load.stop()
      expect(stats.failed, stats.errors.join('\n')).toBe(0)
      expect(stats.retried).toBe(0)
      for (const pid of served) expect(stats.byPid.get(pid) ?? 0, `answers from pid ${pid}`).toBeGreaterThan(0)
    } finally {
      await load.stop()
    }
  })
})
