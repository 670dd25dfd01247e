// HTTP clients that keep a service busy, counting what failed: the two kinds
// a graceful restart must serve without a failed request. Shared by the
// graceful-restart benchmark and tests (test/helpers/load.ts); types in
// load-clients.d.mts.
//  - plain: a new connection per request (no keep-alive), as curl or a
//    health check makes them;
//  - keepAlive: a pooled keep-alive agent that retries an idempotent request
//    once when a reused connection is reset or closed before any answer
//    (req.reusedSocket), as browsers and Node's own guidance do: a server may
//    close an idle keep-alive connection at any moment. With retry: false,
//    they never retry (autocannon, and many clients, do not): every request
//    the server drops counts as failed.
import { Agent, request } from 'node:http'

function once(agent, port, path) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (s) => (body += s))
      res.on('end', () => resolve(res.statusCode === 200 ? { body } : { error: new Error(`HTTP ${res.statusCode}`), reused: false }))
      res.on('error', (error) => resolve({ error, reused: false }))
    })
    req.on('error', (error) => resolve({ error, reused: req.reusedSocket }))
    req.end()
  })
}

/** Run `plain` + `keepAlive` clients in a loop against 127.0.0.1:port until stop(). */
export function startLoad(port, options) {
  const path = options.path ?? '/work/5'
  const retry = options.retry ?? true
  const stats = { ok: 0, failed: 0, retried: 0, errors: [], byPid: new Map(), byVersion: new Map() }
  let running = true
  const record = (body) => {
    const a = JSON.parse(body)
    stats.ok++
    stats.byPid.set(a.pid, (stats.byPid.get(a.pid) ?? 0) + 1)
    stats.byVersion.set(a.version, (stats.byVersion.get(a.version) ?? 0) + 1)
  }
  const fail = (kind, e) => {
    stats.failed++
    if (stats.errors.length < 20) stats.errors.push(`${kind}: ${e.code ?? ''} ${e.message}`)
  }
  const plain = async () => {
    while (running) {
      const r = await once(false, port, path)
      if ('body' in r) record(r.body)
      else fail('plain', r.error)
    }
  }
  const agents = []
  const keepAlive = async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    agents.push(agent)
    while (running) {
      let r = await once(agent, port, path)
      if ('error' in r && r.reused && retry) {
        // A reused connection the server closed or reset: retry the idempotent GET once, on a fresh one.
        stats.retried++
        r = await once(agent, port, path)
      }
      if ('body' in r) record(r.body)
      else fail('keep-alive', r.error)
    }
  }
  const clients = [...Array.from({ length: options.plain }, plain), ...Array.from({ length: options.keepAlive }, keepAlive)]
  return {
    stats,
    async stop() {
      running = false
      await Promise.all(clients)
      for (const a of agents) a.destroy()
      return stats
    },
  }
}
