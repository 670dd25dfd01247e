// Talking to the instances of a --listen service in tests: one request on a
// fresh connection, and requests until every instance has answered (the
// fixtures answer {"instance":I,"pid":P,...}).
import { request } from 'node:http'

export interface Answer {
  instance: number | null
  pid: number
  /** What process.env still held of NODE_DAEMONIZE_INSTANCE (instances-http.mjs). */
  env?: string | null
}

/** One GET / on a fresh connection: who answered (undefined: the request failed). */
export function ask(port: number): Promise<Answer | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (s: string) => (body += s))
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as Answer)
        } catch {
          resolve(undefined)
        }
      })
      res.on('error', () => resolve(undefined))
    })
    req.on('error', () => resolve(undefined))
    req.end()
  })
}

/** until() for a probe that must await (until's probes are synchronous): the same deadline and failure message. */
export async function untilAsync(what: string, probe: () => Promise<boolean>, seen: () => unknown, timeoutMs = 30_000): Promise<void> {
  const start = Date.now()
  while (!(await probe())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(seen())}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Requests until every instance 0..n-1 has answered: index -> its answer (the last one seen). */
export async function everyInstance(port: number, n: number, what: string): Promise<Map<number, Answer>> {
  const seen = new Map<number, Answer>()
  await untilAsync(
    what,
    async () => {
      // A few at once: the kernel hands each new connection to one of the listeners waiting.
      for (const a of await Promise.all(Array.from({ length: 8 }, () => ask(port)))) {
        if (a?.instance !== undefined && a.instance !== null) seen.set(a.instance, a)
      }
      return seen.size === n
    },
    () => [...seen.entries()],
  )
  return seen
}
