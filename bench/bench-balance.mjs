// Balance of --instances: the share of requests each instance serves, with a
// ~1 ms CPU-bound handler and 10 client connections per instance, for
//  - connection-per-request clients (every request a new connection), and
//  - keep-alive clients (one connection each, kept: balance is by connection;
//    the connections are opened together, as a client pool opens them),
// at 2 and 4 instances, comparing
//  (a) shared:    one listening socket held by the supervisor and shared by
//                 every instance (`node-daemonize start --respawn --instances N --listen`);
//  (b) reuseport: SO_REUSEPORT, a socket per instance (plain Node processes,
//                 each handed its own socket by bench/fixtures/reuseport-exec.py).
// Target: every instance within ±20% of the mean share. Prints a table on
// stderr and one JSON line: for each case, the shares and the largest
// deviation from the mean (requests; and connections for keep-alive).
//
// --max-requests-per-socket N: the app's servers end a keep-alive connection
// after N requests (maxRequestsPerSocket), so that its client reconnects:
// connections then re-spread over the instances while the load lasts.
//
//   node bench/bench-balance.mjs [--seconds 3] [--instances 2,4] [--trials 3]
//                                [--designs shared,reuseport,shared-single] [--max-requests-per-socket N]
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { join } from 'node:path'
import { arg, emit, fixtures, freePort, log, root, sleep, tmpDir } from './bench-lib.mjs'

const seconds = Number(arg('seconds', '3'))
const sizes = arg('instances', '2,4').split(',').map(Number)
const trials = Number(arg('trials', '3'))
const perInstance = 10
const maxRequestsPerSocket = arg('max-requests-per-socket', '0')
process.env.BENCH_MAX_REQUESTS_PER_SOCKET = maxRequestsPerSocket
const cli = join(root, 'bin', 'node-daemonize.js')
const app = join(fixtures, 'bench-http-app.cjs')

function get(port, agent) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (s) => (body += s))
      res.on('end', () => resolve({ instance: JSON.parse(body).instance, socket: req.socket }))
      res.on('error', (error) => resolve({ error }))
    })
    req.on('error', (error) => resolve({ error }))
    req.end()
  })
}

/**
 * `conns` clients in a loop for `ms`: requests per instance, and for
 * keep-alive the connections per instance (by the instance that answered a
 * connection's first request).
 */
async function drive(port, kind, conns, ms) {
  const requests = new Map()
  const connections = new Map()
  let failed = 0
  let running = true
  const client = async () => {
    const agent = kind === 'keep-alive' ? new Agent({ keepAlive: true, maxSockets: 1 }) : false
    const seen = new WeakSet()
    while (running) {
      const r = await get(port, agent)
      if (r.error) {
        failed++
        continue
      }
      requests.set(r.instance, (requests.get(r.instance) ?? 0) + 1)
      if (kind === 'keep-alive' && !seen.has(r.socket)) {
        seen.add(r.socket)
        connections.set(r.instance, (connections.get(r.instance) ?? 0) + 1)
      }
    }
    if (agent) agent.destroy()
  }
  const clients = Array.from({ length: conns }, client)
  await sleep(ms)
  running = false
  await Promise.all(clients)
  return { requests, connections, failed }
}

/** Shares of `n` instances (0 for one that served nothing) and the largest deviation from the mean, in %. */
function spread(counts, n) {
  const values = Array.from({ length: n }, (_, i) => counts.get(i) ?? 0)
  const total = values.reduce((a, b) => a + b, 0)
  const mean = total / n
  const maxDevPct = mean === 0 ? NaN : Math.max(...values.map((v) => Math.abs(v - mean) / mean)) * 100
  return { values, total, maxDevPct: Math.round(maxDevPct * 10) / 10 }
}

async function waitServing(port, n) {
  // Every instance answers before the measurement (a probe load of 2 s at most).
  const end = Date.now() + 10_000
  while (Date.now() < end) {
    const r = await drive(port, 'per-request', n * 4, 300)
    if (r.requests.size === n) return
  }
  throw new Error(`not every one of ${n} instances answered within 10 s`)
}

/** (a): the real supervisor, one shared socket. */
async function startShared(n, port, env = []) {
  mkdirSync(tmpDir, { recursive: true })
  const dir = mkdtempSync(join(tmpDir, 'balance-'))
  const pidFile = join(dir, 'app.pid')
  execFileSync(process.execPath, [cli, 'start', app, '--respawn', '--instances', String(n), '--wait-ready', '20s', '--listen', `tcp:127.0.0.1:${port}`,
    '--pid-file', pidFile, '--log-file', join(dir, 'app.log'), ...[`BENCH_MAX_REQUESTS_PER_SOCKET=${maxRequestsPerSocket}`, ...env].flatMap((e) => ['--env', e]), '--', 'daemon'], { stdio: ['ignore', 'ignore', 'inherit'] })
  return async () => {
    execFileSync(process.execPath, [cli, 'stop', '--pid-file', pidFile], { stdio: ['ignore', 'ignore', 'inherit'] })
  }
}

/** (b): N plain Node processes, each with its own SO_REUSEPORT socket on the port. */
async function startReuseport(n, port) {
  const children = []
  for (let i = 0; i < n; i++) {
    const c = spawn('python3', [join(fixtures, 'reuseport-exec.py'), String(port), process.execPath, app, 'fd', '3', String(i)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    children.push(c)
    await new Promise((resolve, reject) => {
      c.once('error', reject)
      c.once('exit', (code) => reject(new Error(`reuseport instance ${i} exited (${code})`)))
      c.stdout.once('data', resolve)
    })
    c.removeAllListeners('exit')
  }
  return async () => {
    await Promise.all(children.map((c) => new Promise((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve()
      c.once('exit', resolve)
      c.kill('SIGTERM')
    })))
  }
}

// (c) shared-single: (a) with libuv's UV_TCP_SINGLE_ACCEPT=1: an instance yields after
// each accept instead of taking the whole burst of pending connections.
const starts = {
  shared: startShared,
  reuseport: startReuseport,
  'shared-single': (n, port) => startShared(n, port, ['UV_TCP_SINGLE_ACCEPT=1']),
}
const designs = arg('designs', 'shared,reuseport').split(',')

async function main() {
  const results = []
  for (const n of sizes) {
    for (const design of designs) {
      const start = starts[design]
      const port = await freePort()
      const stop = await start(n, port)
      try {
        await waitServing(port, n)
        for (const kind of ['per-request', 'keep-alive']) {
          // Each trial opens its connections anew (for keep-alive: one sample of n*10 placements).
          for (let t = 0; t < trials; t++) {
            await sleep(200)
            const r = await drive(port, kind, n * perInstance, seconds * 1000)
            const req = spread(r.requests, n)
            const conn = kind === 'keep-alive' ? spread(r.connections, n) : undefined
            const rps = Math.round(req.total / seconds)
            results.push({ design, instances: n, kind, trial: t, requests: req, connections: conn, failed: r.failed, rps })
            log(`balance ${design.padEnd(9)} n=${n} ${kind.padEnd(11)} t${t}: requests ${req.values.join('/')} (max dev ${req.maxDevPct}%)` +
              (conn ? `, connections ${conn.values.join('/')} (max dev ${conn.maxDevPct}%)` : '') + `, ${rps} req/s, ${r.failed} failed`)
          }
        }
      } finally {
        await stop()
      }
    }
  }
  emit({ seconds, perInstance, results })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
