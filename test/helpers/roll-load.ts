// HTTP clients for rolling restarts and --max-memory replacements that never
// retry, each failure counted by its kind:
//  - plain: a new connection per request (no keep-alive), as curl or a
//    health check makes them;
//  - keepAlive: one busy keep-alive connection per client (an Agent with one
//    socket), the next request sent as soon as the last answer came, and a
//    failed request is a failure (no retry, as Node's agent and autocannon
//    behave by default).
// Every answer is the fixtures' JSON ({instance, pid, ...}): who answered is
// counted too.
import { Agent, request } from 'node:http'

export interface RollAnswer {
  instance: number | null
  pid: number
  release?: string
}

export interface RollStats {
  ok: { plain: number; keepAlive: number }
  failed: { plain: number; keepAlive: number }
  /** The first few failures, "kind: code message". */
  errors: string[]
  byPid: Map<number, number>
  instances: Set<number>
}

function once(agent: Agent | false, port: number): Promise<RollAnswer | Error> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (s: string) => (body += s))
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? (JSON.parse(body) as RollAnswer) : new Error(`HTTP ${res.statusCode}`))
        } catch (err) {
          resolve(err as Error)
        }
      })
      res.on('error', (err) => resolve(err))
    })
    req.on('error', (err) => resolve(err))
    req.end()
  })
}

export function startRollLoad(port: number, clients: { plain: number; keepAlive: number }): { stats: RollStats; stop(): Promise<RollStats> } {
  const stats: RollStats = { ok: { plain: 0, keepAlive: 0 }, failed: { plain: 0, keepAlive: 0 }, errors: [], byPid: new Map(), instances: new Set() }
  let running = true
  const loop = async (kind: 'plain' | 'keepAlive') => {
    const agent = kind === 'keepAlive' ? new Agent({ keepAlive: true, maxSockets: 1 }) : false
    while (running) {
      const r = await once(agent, port)
      if (r instanceof Error) {
        stats.failed[kind]++
        if (stats.errors.length < 20) stats.errors.push(`${kind}: ${(r as NodeJS.ErrnoException).code ?? ''} ${r.message}`)
      } else {
        stats.ok[kind]++
        stats.byPid.set(r.pid, (stats.byPid.get(r.pid) ?? 0) + 1)
        if (r.instance !== null) stats.instances.add(r.instance)
      }
    }
    if (agent) agent.destroy()
  }
  const all = [...Array.from({ length: clients.plain }, () => loop('plain')), ...Array.from({ length: clients.keepAlive }, () => loop('keepAlive'))]
  return {
    stats,
    async stop() {
      running = false
      await Promise.all(all)
      return stats
    },
  }
}

/** One GET / on a fresh connection: who answered (undefined: it failed). */
export async function askOnce(port: number): Promise<RollAnswer | undefined> {
  const r = await once(false, port)
  return r instanceof Error ? undefined : r
}

/** Requests until every instance 0..n-1 has answered: index -> its last answer. */
export async function everyInstance(port: number, n: number, timeoutMs = 30_000): Promise<Map<number, RollAnswer>> {
  const seen = new Map<number, RollAnswer>()
  const end = Date.now() + timeoutMs
  while (seen.size < n) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for every instance of ${n} to answer; seen: ${JSON.stringify([...seen.entries()])}`)
    // A few at once: the kernel hands each new connection to one of the listeners waiting.
    for (const a of await Promise.all(Array.from({ length: 8 }, () => askOnce(port)))) {
      if (a?.instance !== undefined && a.instance !== null) seen.set(a.instance, a)
    }
  }
  return seen
}
