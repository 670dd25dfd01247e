// The supervisor's cost (--respawn):
//  - memory: VmRSS and PSS of the supervisor running one daemon, against an
//    idle `node -e` (the least any Node-based supervisor costs);
//  - respawn latency: from SIGKILL of a generation to the next generation's
//    first instruction after exec (bench-stamp prints CLOCK_MONOTONIC), with
//    --respawn-delay 0, so the figure is the supervisor's own overhead;
//  - serving again: from SIGKILL of an HTTP daemon to its first answered
//    request, against the same entry's foreground start-up to its first answer.
//
//   node bench/bench-supervise.mjs [--runs 20]
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { arg, buildDir, emit, fixtures, loadPackage, log, sleep, tmpDir } from './bench-lib.mjs'

const runs = Number(arg('runs', '20'))

function statusKb(pid, key) {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : NaN
}

function pssKb(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))
    return m ? Number(m[1]) : NaN
  } catch {
    return NaN
  }
}

async function waitFor(cond, ms = 20_000) {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await sleep(1)
  }
}

function get(port) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(true))
    })
    req.on('error', () => resolve(false))
    req.end()
  })
}

async function untilServing(port, ms = 20_000) {
  const end = Date.now() + ms
  while (!(await get(port))) {
    if (Date.now() > end) throw new Error(`port ${port} not serving`)
    await sleep(1)
  }
}

async function main() {
  const { daemonize, stop, status } = await loadPackage()
  mkdirSync(tmpDir, { recursive: true })
  const dir = mkdtempSync(join(tmpDir, 'supervise-'))
  const stamp = join(buildDir, 'bench-stamp')
  if (!existsSync(stamp)) execFileSync('cc', ['-O2', '-o', stamp, join(fixtures, 'bench-stamp.c')])

  // ---- memory: the supervisor with one idle Node daemon, against idle node -e
  const pidFile = join(dir, 'mem.pid')
  const d = await daemonize({ entry: join(fixtures, 'bench-idle.js'), pidFile, respawn: true })
  const idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' })
  await sleep(1000)
  const memory = {
    supervisor: { rssKb: statusKb(d.supervisorPid, 'VmRSS'), pssKb: pssKb(d.supervisorPid) },
    idleNode: { rssKb: statusKb(idle.pid, 'VmRSS'), pssKb: pssKb(idle.pid) },
  }
  idle.kill('SIGKILL')
  await stop(pidFile)

  // ---- respawn latency: kill -> the next generation's main(), delay 0
  const log2 = join(dir, 'stamp.log')
  const pidFile2 = join(dir, 'stamp.pid')
  await daemonize({
    entry: join(fixtures, 'bench-idle.js'),
    execPath: stamp,
    preload: false,
    logFile: log2,
    pidFile: pidFile2,
    respawn: { mode: 'always', delayMs: 0, maxDelayMs: 0, limit: 1000, windowMs: 1 },
  })
  const stamps = () => readFileSync(log2, 'utf8').split('\n').filter((l) => l.startsWith('stamp ')).map((l) => BigInt(l.slice(6)))
  await waitFor(() => stamps().length >= 1)
  const latency = []
  for (let i = 0; i < runs; i++) {
    const daemonPid = status(pidFile2).supervisor?.daemonPid
    const before = stamps().length
    const t0 = process.hrtime.bigint()
    process.kill(daemonPid, 'SIGKILL')
    await waitFor(() => stamps().length > before)
    latency.push(Number(stamps()[before] - t0) / 1e6)
    await sleep(20)
  }
  await stop(pidFile2)

  // ---- serving again: an HTTP entry, killed, until it answers again; against its foreground start
  const http = join(dir, 'http.cjs')
  writeFileSync(http, "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.argv[2]), '127.0.0.1')\n")
  const port = 20000 + (process.pid % 20000)
  const foreground = []
  for (let i = 0; i < Math.min(runs, 10); i++) {
    const t0 = performance.now()
    const c = spawn(process.execPath, [http, String(port)], { stdio: 'ignore' })
    await untilServing(port)
    foreground.push(performance.now() - t0)
    c.kill('SIGKILL')
    await new Promise((r) => c.once('exit', r))
  }
  const pidFile3 = join(dir, 'http.pid')
  const delayMs = 100
  await daemonize({ entry: http, args: [String(port)], pidFile: pidFile3, respawn: { delayMs, maxDelayMs: delayMs, limit: 1000, windowMs: 1 }, startupGraceMs: 0 })
  await untilServing(port)
  const serving = []
  for (let i = 0; i < Math.min(runs, 10); i++) {
    const s = status(pidFile3).supervisor
    const t0 = performance.now()
    process.kill(s.daemonPid, 'SIGKILL')
    await waitFor(() => status(pidFile3).supervisor?.daemonPid !== s.daemonPid)
    await untilServing(port)
    serving.push(performance.now() - t0)
  }
  await stop(pidFile3)
  log(`supervise: supervisor ${memory.supervisor.rssKb} kB RSS / ${memory.supervisor.pssKb} kB PSS; idle node ${memory.idleNode.rssKb} kB / ${memory.idleNode.pssKb} kB`)
  emit({ memory, latency, foreground, serving, servingDelayMs: delayMs })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
