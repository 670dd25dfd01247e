// Scenario: time to ready, from a running caller.
//
//   node bench/bench-ready.mjs --runs 20
//
// Side by side, interleaved:
//   daemonize({ entry, waitReadyMs }) until it resolves with ready: true
//   spawn(node, [entry]) in the foreground until its first line on stdout
// The entry (bench/fixtures/bench-ready.mjs) calls ready() at once, prints a
// line and idles; every process is killed as soon as it has been timed.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { arg, dist, emit, killDaemon, loadPackage, log, readyEntry, sleep } from './bench-lib.mjs'

const runs = Number(arg('runs', '20'))
const warm = Number(arg('warm', '2'))
const gapMs = Number(arg('gap-ms', '50'))

async function viaDaemonize(pkg) {
  const t0 = performance.now()
  const d = await pkg.daemonize({ entry: readyEntry, waitReadyMs: 30_000 })
  const ms = performance.now() - t0
  await killDaemon(pkg.native, d.pid)
  if (!d.ready) throw new Error('daemonize resolved without ready')
  return ms
}

async function foreground() {
  const t0 = performance.now()
  const child = spawn(process.execPath, [readyEntry], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve)
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`the entry exited with ${code} before printing`)))
  })
  const ms = performance.now() - t0
  child.kill('SIGKILL')
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit')
  return ms
}

async function main() {
  const pkg = await loadPackage()
  const readyModule = existsSync(join(dist, 'daemon', 'index.js'))
  if (!readyModule) log('ready: dist/daemon/index.js is missing; the entry writes READY=1 to fd 4 itself')
  const out = { daemonize: [], foreground: [] }
  for (let i = 0; i < warm + runs; i++) {
    const order = i % 2 ? ['foreground', 'daemonize'] : ['daemonize', 'foreground']
    for (const side of order) {
      const ms = side === 'daemonize' ? await viaDaemonize(pkg) : await foreground()
      if (i >= warm) out[side].push(ms)
      await sleep(gapMs)
    }
  }
  emit({ runs, warm, readyModule, ...out })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
