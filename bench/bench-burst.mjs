// Scenario: a burst of daemons launched concurrently from one caller.
//
//   node bench/bench-burst.mjs --program trivial|node --count 200 --rounds 10
//
// Each round: Promise.all of `count` daemonize() calls, timed from the first
// call to the last resolution. Then every launch is verified: an exec
// record, a daemon pid that either still exists (Node entries, then killed
// through a pidfd) or has exited on its own (the trivial program); no
// zombie among this process's own children; no fd left open that was not
// open before the round (/proc/self/fd compared).
import { performance } from 'node:perf_hooks'
import {
  arg,
  emit,
  exists,
  idleEntry,
  killDaemon,
  leakedFds,
  loadPackage,
  log,
  openFds,
  sleep,
  trueProgram,
  zombieChildren,
} from './bench-lib.mjs'

const program = arg('program', 'trivial')
const count = Number(arg('count', '200'))
const rounds = Number(arg('rounds', '10'))
const warm = Number(arg('warm', '1'))

async function round(pkg) {
  const options =
    program === 'trivial'
      ? { entry: idleEntry, execPath: trueProgram, preload: false }
      : { entry: idleEntry }
  const fdsBefore = openFds()
  const t0 = performance.now()
  const settled = await Promise.allSettled(Array.from({ length: count }, () => pkg.daemonize(options)))
  const ms = performance.now() - t0

  const failures = settled.filter((s) => s.status === 'rejected').map((s) => String(s.reason?.message ?? s.reason))
  const daemons = settled.filter((s) => s.status === 'fulfilled').map((s) => s.value)
  let verified = 0
  const problems = [...new Set(failures)].slice(0, 5)
  const pids = new Set()
  for (const d of daemons) {
    const exec = d.stages.find((r) => r.stage === 'exec' && r.err === 0)
    const ok = exec !== undefined && exec.value === d.pid && d.pid > 0 && !pids.has(d.pid)
    pids.add(d.pid)
    if (ok) verified++
    else problems.push(`pid ${d.pid}: no matching exec record`)
  }

  // Node daemons must all be alive right after the burst; then kill them.
  let alive = 0
  if (program !== 'trivial') {
    for (const d of daemons) if (exists(pkg.native, d.pid)) alive++
    await Promise.all(daemons.map((d) => killDaemon(pkg.native, d.pid)))
  }
  // The helpers are the caller's only children: each must have been reaped.
  const zombies = zombieChildren()
  const leaked = leakedFds(fdsBefore)
  return { ms, perSecond: (count * 1000) / ms, launched: daemons.length, verified, alive, zombies: zombies.length, leaked, problems }
}

async function main() {
  const pkg = await loadPackage()
  const results = []
  for (let i = 0; i < warm + rounds; i++) {
    const r = await round(pkg)
    log(
      `burst ${program} round ${i}${i < warm ? ' (warm-up)' : ''}: ${r.ms.toFixed(1)} ms, ${r.perSecond.toFixed(0)}/s, ` +
        `verified ${r.verified}/${count}, zombies ${r.zombies}, fds leaked ${r.leaked.length}` +
        (r.problems.length ? `; ${r.problems[0]}` : ''),
    )
    if (i >= warm) results.push(r)
    // Let the previous round's daemons finish their start-up (or their
    // exit) before the next one is timed.
    await sleep(program === 'trivial' ? 200 : 1000)
  }
  emit({ program, count, rounds, warm, results })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
