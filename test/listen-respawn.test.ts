// --respawn with --listen: the supervisor holds the sockets and every
// generation gets the same ones, so a daemon killed under load refuses no
// connection: those opened while no generation runs wait in the kernel's
// backlog and are served by the next one.
import { request } from 'node:http'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { daemonize, stop } from '../src/index.js'
import { fixtures } from './helpers/caller.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { untilLine } from './helpers/files.js'
import { freePort } from './helpers/net.js'
import { procFds } from './helpers/proc.js'
import { until } from './helpers/wait.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

const httpDaemon = join(fixtures, 'daemon-listen-http.mjs')
/** The supervisor's restart delay: a gap at least this long, during which no generation runs. */
const DELAY_MS = 700

let dir: string
let pidFile: string
beforeEach(() => {
  dir = scratchDir('nd-listen-respawn-')
  pidFile = join(dir, 'app.pid')
})
afterEach(async () => {
  await stop(pidFile, { timeoutMs: 5000 }).catch(() => undefined)
})

interface Outcome {
  /** When the connection was established (the kernel's handshake: a backlog entry counts). */
  connectedAt: number
  /** The serving pid, or the error code. */
  servedBy?: number
  error?: string
}

/** One GET / on a fresh connection, with when it connected and who answered. */
function hit(port: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const o: Outcome = { connectedAt: 0 }
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (s: string) => (body += s))
      res.on('end', () => {
        const m = /^hello from (\d+)$/.exec(body)
        if (m) o.servedBy = Number(m[1])
        else o.error = `answer ${JSON.stringify(body)}`
        resolve(o)
      })
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ ...o, error: e.code ?? e.message }))
    })
    req.on('socket', (s) => s.once('connect', () => (o.connectedAt = Date.now())))
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ ...o, error: e.code ?? e.message }))
    req.end()
  })
}

describe('--listen with --respawn', () => {
  it('kill -9 under load: nothing refused, connections opened in the gap are served by the next generation', async () => {
    const port = await freePort()
    const log = join(dir, 'app.log')
    const d = await daemonize({
      entry: httpDaemon,
      logFile: log,
      pidFile,
      waitReadyMs: 15_000,
      listen: [`tcp:127.0.0.1:${port}`],
      respawn: { mode: 'always', delayMs: DELAY_MS, maxDelayMs: DELAY_MS },
    })
    const supervisor = track(d.supervisorPid as number)
    const first = track(d.pid)
    // The supervisor holds the socket itself.
    expect([...procFds(supervisor).values()].some((t) => t.startsWith('socket:'))).toBe(true)

    // Load: 8 clients, each a loop of requests on fresh connections.
    const outcomes: Outcome[] = []
    let running = true
    const clients = Array.from({ length: 8 }, async () => {
      while (running) outcomes.push(await hit(port))
    })
    await until('load served by the first generation', () => outcomes.filter((o) => o.servedBy === first).length >= 50)

    process.kill(first, 'SIGKILL')
    await untilGone(first)
    const goneAt = Date.now()
    // Connections opened now, while no generation runs (the next one is
    // forked DELAY_MS after the death at the earliest): they must wait.
    const gapHits = Promise.all(Array.from({ length: 5 }, () => hit(port)))
    // The next generation: a line of its own in the log, and answers from it.
    const line = await untilLine(log, (l) => l.startsWith('{"serving"') && !l.includes(`"pid":${first}`), { timeoutMs: 20_000 })
    const second = track((JSON.parse(line) as { pid: number }).pid)
    await until('load served by the second generation', () => outcomes.filter((o) => o.servedBy === second).length >= 50)
    running = false
    await Promise.all(clients)

    const gap = await gapHits
    const refused = outcomes.filter((o) => o.error === 'ECONNREFUSED')
    // Connections the killed process had accepted (libuv accepts several at
    // once, before its handlers run) are reset with it: lost, counted apart.
    const lost = outcomes.filter((o) => o.error !== undefined && o.error !== 'ECONNREFUSED')
    const summary = { total: outcomes.length, refused: refused.length, lost: lost.length }
    expect(refused, JSON.stringify(summary)).toEqual([])
    expect(lost.every((o) => o.error === 'ECONNRESET'), JSON.stringify(lost.slice(0, 8))).toBe(true)
    // At most one in flight per client.
    expect(lost.length, JSON.stringify(summary)).toBeLessThanOrEqual(8)
    // The gap's own connections: established at once (the kernel's backlog)
    // while no generation ran, and served by the next one.
    for (const o of gap) {
      expect(o.connectedAt, JSON.stringify(gap)).toBeLessThan(goneAt + DELAY_MS / 2)
      expect(o.servedBy, JSON.stringify(gap)).toBe(second)
    }
    expect(outcomes.every((o) => o.error !== undefined || o.servedBy === first || o.servedBy === second)).toBe(true)
    // The same socket in both generations: the one the supervisor holds.
    const supSocket = [...procFds(supervisor).values()].find((t) => t.startsWith('socket:'))
    expect(procFds(second).get(3)).toBe(supSocket)
  })
})
