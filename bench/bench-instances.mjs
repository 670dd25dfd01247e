// --instances: what N instances on one shared --listen socket give and cost.
//  - throughput: requests/s with autocannon (keep-alive, 20 connections) on
//    the ~1 ms CPU-bound app (fixtures/bench-http-app.cjs), against 1
//    instance and against pm2's cluster mode `-i 2`, same app, same run
//    (rounds interleaved, so that drift in the machine's load hits each alike);
//  - the supervisor's VmRSS with 8 instances (and --listen);
//  - respawn latency with 4 instances: SIGKILL of one instance's generation →
//    its next generation's first instruction (bench-stamp), --respawn-delay 0.
// autocannon and pm2 are not dependencies: `npm run bench:peers` installs them
// into bench/tmp/peers; without them the throughput part is skipped (said so).
//
//   node bench/bench-instances.mjs [--seconds 4] [--rounds 3] [--runs 20]
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { arg, buildDir, emit, fixtures, freePort, log, root, sleep, tmpDir } from './bench-lib.mjs'

const seconds = Number(arg('seconds', '4'))
const rounds = Number(arg('rounds', '3'))
const runs = Number(arg('runs', '20'))
const cli = join(root, 'bin', 'node-daemonize.js')
const app = join(fixtures, 'bench-http-app.cjs')
const peers = join(tmpDir, 'peers')
const pm2Bin = join(peers, 'node_modules', 'pm2', 'bin', 'pm2')
const pm2Home = join(tmpDir, 'pm2-home')

function nd(args) {
  return execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
}

function vmRssKb(pid) {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : NaN
}

function instancesOf(pidFile) {
  return JSON.parse(nd(['status', '--pid-file', pidFile, '--json'])).supervisor?.instances ?? []
}

async function waitFor(what, cond, ms = 30_000) {
  const end = Date.now() + ms
  for (;;) {
    const v = await cond()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** A node-daemonize service of the app, N instances on a shared --listen socket. */
function startInstances(dir, n, port) {
  const pidFile = join(dir, `i${n}.pid`)
  nd(['start', app, '--respawn', '--instances', String(n), '--wait-ready', '30s', '--listen', `tcp:127.0.0.1:${port}`,
    '--pid-file', pidFile, '--log-file', join(dir, `i${n}.log`), '--', 'daemon'])
  return { pidFile, stop: () => nd(['stop', '--pid-file', pidFile]) }
}

function pm2(args) {
  const r = spawnSync(process.execPath, [pm2Bin, ...args], { encoding: 'utf8', env: { ...process.env, PM2_HOME: pm2Home } })
  if (r.status !== 0) throw new Error(`pm2 ${args.join(' ')}: ${r.stderr || r.stdout}`)
  return r.stdout
}

/** pm2 cluster mode, 2 workers of the same app on `port`, both online. */
async function startPm2(port) {
  mkdirSync(pm2Home, { recursive: true })
  pm2(['start', app, '--name', 'bench-instances', '-i', '2', '--', 'port', String(port)])
  await waitFor('pm2 workers online', () => {
    const list = JSON.parse(pm2(['jlist']))
    return list.filter((p) => p.name === 'bench-instances' && p.pm2_env.status === 'online').length === 2
  })
  return { stop: () => (pm2(['delete', 'bench-instances']), pm2(['kill'])) }
}

async function serving(port, n) {
  const seen = new Set()
  await waitFor(`${n} instances answering on ${port}`, async () => {
    const r = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } }).then((x) => x.json()).catch(() => undefined)
    if (r) seen.add(r.instance)
    return seen.size >= n
  })
}

async function throughput(dir) {
  if (!existsSync(join(peers, 'node_modules', 'autocannon')) || !existsSync(pm2Bin)) {
    log('instances: autocannon and pm2 are not installed (npm run bench:peers): throughput not measured')
    return undefined
  }
  const autocannon = createRequire(join(peers, 'package.json'))('autocannon')
  const ports = { one: await freePort(), two: await freePort(), pm2: await freePort() }
  const services = []
  try {
    services.push(startInstances(dir, 1, ports.one))
    services.push(startInstances(dir, 2, ports.two))
    services.push(await startPm2(ports.pm2))
    await serving(ports.one, 1)
    await serving(ports.two, 2)
    await serving(ports.pm2, 2)
    const rps = { one: [], two: [], pm2: [] }
    const errors = { one: 0, two: 0, pm2: 0 }
    for (let r = 0; r < rounds; r++) {
      for (const key of Object.keys(rps)) {
        const res = await autocannon({ url: `http://127.0.0.1:${ports[key]}/`, connections: 20, duration: seconds })
        rps[key].push(res.requests.average)
        errors[key] += res.errors + res.timeouts + res.non2xx
        log(`instances: round ${r} ${key}: ${Math.round(res.requests.average)} req/s (${res.errors} errors, ${res.non2xx} non-2xx)`)
        await sleep(300)
      }
    }
    return { rps, errors, connections: 20, seconds, pm2: createRequire(join(peers, 'package.json'))('pm2/package.json').version }
  } finally {
    for (const s of services) s.stop()
  }
}

async function memory(dir) {
  const port = await freePort()
  const pidFile = join(dir, 'mem8.pid')
  const started = JSON.parse(nd(['start', join(fixtures, 'bench-idle.js'), '--respawn', '--instances', '8', '--listen', `tcp:127.0.0.1:${port}`,
    '--pid-file', pidFile, '--json']).trim().split('\n').at(-1))
  try {
    await waitFor('8 instances up', () => instancesOf(pidFile).filter((i) => i.pid > 0).length === 8)
    await sleep(1000)
    return { instances: 8, rssKb: vmRssKb(started.supervisorPid) }
  } finally {
    nd(['stop', '--pid-file', pidFile])
  }
}

async function respawn(dir) {
  const stamp = join(buildDir, 'bench-stamp')
  if (!existsSync(stamp)) {
    mkdirSync(buildDir, { recursive: true })
    execFileSync('cc', ['-O2', '-o', stamp, join(fixtures, 'bench-stamp.c')])
  }
  const logFile = join(dir, 'stamp4.log')
  const pidFile = join(dir, 'stamp4.pid')
  nd(['start', join(fixtures, 'bench-idle.js'), '--exec-path', stamp, '--no-preload', '--respawn', '--respawn-delay', '0', '--respawn-limit', '1000/1s', '--instances', '4',
    '--pid-file', pidFile, '--log-file', logFile, '--startup-grace', '0'])
  const stamps = () => readFileSync(logFile, 'utf8').split('\n').filter((l) => l.startsWith('stamp ')).map((l) => BigInt(l.slice(6)))
  try {
    await waitFor('4 instances started', () => stamps().length >= 4)
    const latency = []
    for (let i = 0; i < runs; i++) {
      const victim = instancesOf(pidFile)[i % 4]
      const before = stamps().length
      const t0 = process.hrtime.bigint()
      process.kill(victim.pid, 'SIGKILL')
      await waitFor('the next generation', () => stamps().length > before)
      latency.push(Number(stamps()[before] - t0) / 1e6)
      await waitFor('the status to name it', () => instancesOf(pidFile)[i % 4].pid !== victim.pid)
    }
    return { instances: 4, delayMs: 0, latency }
  } finally {
    nd(['stop', '--pid-file', pidFile])
  }
}

async function main() {
  mkdirSync(tmpDir, { recursive: true })
  const dir = mkdtempSync(join(tmpDir, 'instances-'))
  const result = { throughput: await throughput(dir), memory: await memory(dir), respawn: await respawn(dir) }
  log(`instances: supervisor VmRSS with 8 instances ${result.memory.rssKb} kB`)
  emit(result)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
