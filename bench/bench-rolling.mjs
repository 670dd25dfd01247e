// Rolling restarts and --max-memory under load (issue 21), in one run:
//  1. rolling restart: `start --respawn --instances 4 --listen tcp:… --wait-ready`
//     of an HTTP app made with drainable()/ready() (fixtures/bench-roll-app.mjs),
//     under clients that never retry (bench/load-clients.mjs, retry: false):
//     some opening a connection per request, more on busy keep-alive
//     connections (Node's http.Agent, keepAlive, one socket each). `restart
//     --graceful` --rolls times: each roll's duration (the CLI's request to
//     its verdict, exit 0), failed requests by client kind and by error,
//     requests served, and that every instance's pid is new after each roll
//     (never one seen before) and has answered.
//  2. --max-memory: instance 0 of 2 (`--listen --wait-ready --max-memory
//     150M`) grows its RSS by --leak-mb-per-s MB a second, every generation
//     of it, under connection-per-request clients. This process samples the
//     leaking pid's /proc/<pid>/statm every 50 ms; for each replacement: the
//     time from the first sample over the limit to the supervisor's
//     `max-memory` event, to the new generation's `max-memory-ready` (it
//     serves, the old one gets SIGTERM) and to the old pid's exit (seen
//     through a pidfd); failed requests.
// Event times are the supervisor's log lines' `time` (wall clock, ms),
// compared with this process's Date.now(). The load on the machine (load
// average) before and after is in the result.
//
//   node bench/bench-rolling.mjs [--rolls 3] [--replacements 3] [--leak-mb-per-s 20]
//                                [--plain 4] [--keep-alive 12]
//                                [--memory-instances 2] [--memory-keep-alive 0]
// (--memory-*: the --max-memory service's instances, and keep-alive clients
// that never retry beside its per-request ones.)
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs'
import { loadavg, availableParallelism } from 'node:os'
import { join } from 'node:path'
import { startLoad } from './load-clients.mjs'
import { arg, emit, exists, fixtures, freePort, loadPackage, log, root, sleep, tmpDir } from './bench-lib.mjs'

const rolls = Number(arg('rolls', '3'))
const replacements = Number(arg('replacements', '3'))
const leakRate = Number(arg('leak-mb-per-s', '20'))
const plainClients = Number(arg('plain', '4'))
const keepAliveClients = Number(arg('keep-alive', '12'))
const memoryInstances = Number(arg('memory-instances', '2'))
const memoryKeepAlive = Number(arg('memory-keep-alive', '0'))
const instances = 4
const limitBytes = 150 * 1024 * 1024
const cli = join(root, 'bin', 'node-daemonize.js')
const app = join(fixtures, 'bench-roll-app.mjs')
const load1 = () => loadavg()[0]

/** The CLI, asynchronously (the load clients run meanwhile): exit code, stdout, stderr. */
function nd(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { encoding: 'utf8' }, (err, out, errText) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out, err: errText }),
    )
  })
}

async function must(args) {
  const r = await nd(args)
  if (r.code !== 0) throw new Error(`node-daemonize ${args.join(' ')}: exit ${r.code}: ${r.err.trim()}`)
  return r
}

/** Every instance's current pid, by index (status --json). */
async function pidsOf(pidFile) {
  const r = await must(['status', '--pid-file', pidFile, '--json'])
  return (JSON.parse(r.out).supervisor?.instances ?? []).map((i) => i.pid)
}

/** The supervisor's event lines in the log, in order. */
function events(logFile) {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"supervisor":true'))
    .map((l) => JSON.parse(l))
}

async function waitFor(what, cond, ms = 30_000, every = 20) {
  const end = Date.now() + ms
  for (;;) {
    const v = await cond()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(every)
  }
}

/** A service of the app on a shared --listen socket, every instance answering. */
async function startService(dir, name, port, n, extra) {
  const pidFile = join(dir, `${name}.pid`)
  const logFile = join(dir, `${name}.log`)
  await must(['start', app, '--respawn', '--instances', String(n), '--listen', `tcp:127.0.0.1:${port}`, '--wait-ready', '10s',
    '--pid-file', pidFile, '--log-file', logFile, ...extra])
  const pids = await waitFor(`${n} instances up`, async () => {
    const p = await pidsOf(pidFile)
    return p.length === n && p.every((x) => x > 0) ? p : undefined
  })
  return { pidFile, logFile, pids }
}

const failedOf = (plain, keepAlive) => ({ plain: plain.stats.failed, keepAlive: keepAlive.stats.failed })

async function rolling(native, dir) {
  const port = await freePort()
  const svc = await startService(dir, 'roll', port, instances, [])
  const plain = startLoad(port, { plain: plainClients, keepAlive: 0, retry: false })
  const keepAlive = startLoad(port, { plain: 0, keepAlive: keepAliveClients, retry: false })
  const seen = new Set(svc.pids)
  const out = { instances, clients: { plain: plainClients, keepAlive: keepAliveClients }, rolls: [], loadBefore: load1() }
  try {
    await waitFor('the clients to be under way', () => plain.stats.ok > 20 && keepAlive.stats.ok > 20 * keepAliveClients / 4)
    let before = svc.pids
    for (let k = 0; k < rolls; k++) {
      const f0 = failedOf(plain, keepAlive)
      const ok0 = plain.stats.ok + keepAlive.stats.ok
      const t0 = performance.now()
      const r = await nd(['restart', '--graceful', '--pid-file', svc.pidFile, '--json'])
      const durationMs = performance.now() - t0
      if (r.code !== 0) throw new Error(`roll ${k}: restart --graceful exited ${r.code}: ${r.err.trim()}`)
      const after = await pidsOf(svc.pidFile)
      const allNew = after.length === instances && after.every((p) => p > 0 && !seen.has(p))
      for (const p of after) seen.add(p)
      // The old instances drain (the roll's verdict does not wait for that): the roll's failures include theirs.
      await waitFor(`roll ${k}: the old instances to exit`, () => before.every((p) => !exists(native, p)))
      // Every new pid serves (plain clients reach every instance).
      const served = await waitFor(`roll ${k}: answers from every new instance`, () => after.every((p) => (plain.stats.byPid.get(p) ?? 0) + (keepAlive.stats.byPid.get(p) ?? 0) > 0), 10_000)
        .then(() => true, () => false)
      const f1 = failedOf(plain, keepAlive)
      const roll = {
        durationMs,
        failed: { plain: f1.plain - f0.plain, keepAlive: f1.keepAlive - f0.keepAlive },
        served: plain.stats.ok + keepAlive.stats.ok - ok0,
        allNew,
        everyNewServed: served,
        load: load1(),
      }
      out.rolls.push(roll)
      log(`rolling: roll ${k}: ${durationMs.toFixed(0)} ms, failed ${roll.failed.plain} per-request / ${roll.failed.keepAlive} keep-alive, ` +
        `${roll.served} answers, every pid new: ${allNew}, every new one answered: ${served}, load ${roll.load.toFixed(2)}`)
      before = after
    }
  } finally {
    const p = await plain.stop()
    const ka = await keepAlive.stop()
    out.total = {
      served: { plain: p.ok, keepAlive: ka.ok },
      failed: { plain: p.failed, keepAlive: ka.failed },
      errors: [...p.errors, ...ka.errors],
    }
    await nd(['stop', '--pid-file', svc.pidFile])
  }
  for (const e of out.total.errors) log(`rolling: ${e}`)
  out.loadAfter = load1()
  return out
}

function rssBytes(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096
  } catch {
    return 0
  }
}

/** One --max-memory replacement of `pid`: the times from its first sample over the limit. */
async function oneReplacement(native, svc, pid) {
  let cross
  let exited
  let peak = 0
  const find = (pred) => events(svc.logFile).find(pred)
  const r = await waitFor(`pid ${pid} to be replaced for --max-memory`, () => {
    const now = Date.now()
    if (exited === undefined) {
      const rss = rssBytes(pid)
      peak = Math.max(peak, rss)
      if (cross === undefined && rss > limitBytes) cross = now
      if (!exists(native, pid)) exited = now
    }
    if (exited === undefined) return undefined
    const over = find((e) => e.event === 'max-memory' && e.daemonPid === pid)
    const ready = find((e) => e.event === 'max-memory-ready' && e.oldPid === pid)
    const drained = find((e) => e.event === 'drained' && e.daemonPid === pid)
    return over && ready && drained ? { over, ready, drained } : undefined
  }, 60_000, 50)
  if (cross === undefined) throw new Error(`pid ${pid} was replaced but no sample saw it over the limit`)
  return {
    oldPid: pid,
    newPid: r.ready.daemonPid,
    replace: r.over.replace,
    rssAtEvent: r.over.rss,
    peakRss: peak,
    crossToEventMs: r.over.time - cross,
    crossToReadyMs: r.ready.time - cross,
    crossToDrainedMs: r.drained.time - cross,
    crossToExitMs: exited - cross,
    load: load1(),
  }
}

async function maxMemory(native, dir) {
  const port = await freePort()
  const svc = await startService(dir, 'leak', port, memoryInstances, ['--max-memory', '150M', '--env', `BENCH_LEAK_MB_PER_S=${leakRate}`, '--env', 'BENCH_LEAK_INSTANCE=0'])
  const plain = startLoad(port, { plain: plainClients, keepAlive: memoryKeepAlive, retry: false })
  const out = { instances: memoryInstances, limitBytes, leakMbPerS: leakRate, clients: { plain: plainClients, keepAlive: memoryKeepAlive }, replacements: [], loadBefore: load1() }
  try {
    let pid = svc.pids[0]
    for (let k = 0; k < replacements; k++) {
      const f0 = plain.stats.failed
      const one = await oneReplacement(native, svc, pid)
      one.failed = plain.stats.failed - f0
      out.replacements.push(one)
      log(`max-memory: replacement ${k}: pid ${one.oldPid} → ${one.newPid} (${one.replace}); over the limit → event ${one.crossToEventMs} ms, ` +
        `→ new ready ${one.crossToReadyMs} ms, → old exited ${one.crossToExitMs} ms; failed ${one.failed}; load ${one.load.toFixed(2)}`)
      pid = one.newPid
    }
    // The other instances were never replaced.
    const now = await pidsOf(svc.pidFile)
    out.othersUntouched = svc.pids.slice(1).every((p, k) => now[k + 1] === p)
  } finally {
    const p = await plain.stop()
    out.total = { served: p.ok, failed: p.failed, errors: p.errors }
    await nd(['stop', '--pid-file', svc.pidFile])
  }
  for (const e of out.total.errors) log(`max-memory: ${e}`)
  out.loadAfter = load1()
  return out
}

async function main() {
  const { native } = await loadPackage()
  mkdirSync(tmpDir, { recursive: true })
  const dir = mkdtempSync(join(tmpDir, 'rolling-'))
  const t0 = performance.now()
  const result = { cpus: availableParallelism(), rolling: await rolling(native, dir), maxMemory: await maxMemory(native, dir) }
  result.seconds = (performance.now() - t0) / 1000
  emit(result)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
