// `node-daemonize run` as a container's PID 1, beside tini, dumb-init and
// pm2-runtime (pm2 from `npm run bench:peers`, run when missing; tini and
// dumb-init from Debian when missing): PID 1's VmRSS and PSS with one
// idle app, and SIGTERM to PID 1 → its exit, for an app whose drain is
// empty (it exits at once on TERM). Each init runs as PID 1 of a new PID
// namespace (unshare --pid --fork --mount-proc; needs root).
//
//   node bench/bench-run.mjs [--runs 20]
// Prints progress on stderr and one JSON line on stdout (bench.mjs reads it).
import { arg, emit, log, sleep, stats } from './bench-lib.mjs'
import { ensureDebianInits, ensurePm2, have, inits, memory, runApp, start, until } from './run-lib.mjs'

const runs = Number(arg('runs', '20'))
const skipped = {}
const debian = ensureDebianInits()
const pm2 = ensurePm2()
const names = Object.keys(inits).filter((n) => {
  const why = n === 'tini' || n === 'dumb-init' ? (have(n) ? undefined : debian) : n === 'pm2-runtime' ? pm2 : undefined
  if (why !== undefined) {
    skipped[n] = why
    log(`bench-run: ${n} skipped: ${why}`)
  }
  return why === undefined
})

/** PID 1's memory once the app is up (pm2-runtime: settled, its own start-up done). */
async function pid1Memory(name) {
  const r = await start(inits[name](runApp, []))
  await sleep(name === 'pm2-runtime' ? 2000 : 300)
  const m = memory(r.pid1)
  r.kill()
  await r.exit
  return m
}

/** SIGTERM to PID 1 → the namespace's PID 1 has exited (unshare reports it at once), ms. */
async function termToExit(name) {
  const r = await start(inits[name](runApp, []))
  if (name === 'pm2-runtime') await until('pm2 to report the app online', () => /online|started/i.test(r.out() + r.err()), 10_000).catch(() => undefined)
  const t0 = process.hrtime.bigint()
  process.kill(r.pid1, 'SIGTERM')
  const code = await r.exit
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (name !== 'pm2-runtime' && (code !== 0 || !r.out().includes('drained'))) throw new Error(`${name}: exit ${code} after SIGTERM, drained: ${r.out().includes('drained')}`)
  return ms
}

const result = { runs, memory: {}, term: {}, skipped }
for (const name of names) {
  result.memory[name] = await pid1Memory(name)
  log(`bench-run: ${name}: VmRSS ${result.memory[name].rssKb} kB, PSS ${result.memory[name].pssKb} kB`)
  const samples = []
  for (let i = 0; i < (name === 'pm2-runtime' ? Math.min(runs, 5) : runs); i++) samples.push(await termToExit(name))
  result.term[name] = samples
  log(`bench-run: ${name}: SIGTERM → exit median ${stats(samples).median.toFixed(2)} ms`)
}
emit(result)
