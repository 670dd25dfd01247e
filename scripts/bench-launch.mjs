// Scenario: launch latency from one caller, optionally holding a big heap.
//
//   node [--max-old-space-size=4096 --expose-gc] scripts/bench-launch.mjs --heap-mb 2048 --runs 30
//
// Side by side, interleaved (alternating which goes first), spaced out:
//   daemonize() until it resolves (exec confirmed, helper reaped)
//   child_process.spawn(..., {detached:true, stdio:'ignore'}) until 'spawn'
// twice: with the same trivial static execPath on both sides, and with Node
// and a real entry on both sides (each daemon killed as soon as it is timed,
// so its start-up does not steal the CPU of the next launch).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import { arg, emit, idleEntry, killDaemon, loadPackage, log, rssMb, sleep, trueProgram } from './bench-lib.mjs'

const heapMb = Number(arg('heap-mb', '0'))
const runs = Number(arg('runs', '30'))
const warm = Number(arg('warm', '3'))
const gapMs = Number(arg('gap-ms', '25'))

/**
 * Retain about targetMb of RSS as many live JS objects and arrays (not one
 * buffer): number arrays of 1 MiB each plus a tenth in small objects, so
 * the heap has the page tables and object graph of a real big process.
 */
function buildHeap(targetMb) {
  const keep = []
  if (targetMb <= 0) return keep
  const objects = []
  const objectCount = Math.floor((targetMb * 0.1 * 1024 * 1024) / 48)
  for (let i = 0; i < objectCount; i++) objects.push({ id: i, name: `o${i & 1023}`, next: null })
  for (let i = 1; i < objects.length; i++) objects[i].next = objects[i - 1]
  keep.push(objects)
  while (rssMb() < targetMb) {
    for (let k = 0; k < 16; k++) {
      const a = new Array(131072)
      for (let j = 0; j < a.length; j++) a[j] = j + 0.5
      keep.push(a)
    }
  }
  return keep
}

async function timeDaemonize(pkg, options) {
  const t0 = performance.now()
  const d = await pkg.daemonize(options)
  const ms = performance.now() - t0
  const exec = d.stages.some((r) => r.stage === 'exec' && r.err === 0)
  if (!exec) throw new Error('daemonize resolved without an exec record')
  return { ms, pid: d.pid }
}

async function timeSpawn(file, args) {
  const t0 = performance.now()
  const child = spawn(file, args, { detached: true, stdio: 'ignore' })
  await once(child, 'spawn')
  const ms = performance.now() - t0
  return { ms, child }
}

async function main() {
  const pkg = await loadPackage()
  const t0 = performance.now()
  const heap = buildHeap(heapMb)
  if (heapMb > 0 && typeof globalThis.gc === 'function') globalThis.gc()
  const buildMs = performance.now() - t0
  const rss = rssMb()
  log(`launch: heap target ${heapMb} MB, RSS ${rss.toFixed(0)} MB (built in ${buildMs.toFixed(0)} ms)`)

  const trivial = { daemonize: [], spawn: [] }
  const node = { daemonize: [], spawn: [] }

  const sides = {
    trivialDaemonize: async () => {
      const r = await timeDaemonize(pkg, { entry: idleEntry, execPath: trueProgram, preload: false })
      return r.ms
    },
    trivialSpawn: async () => {
      const { ms, child } = await timeSpawn(trueProgram, [idleEntry])
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit')
      return ms
    },
    nodeDaemonize: async () => {
      const r = await timeDaemonize(pkg, { entry: idleEntry })
      await killDaemon(pkg.native, r.pid)
      return r.ms
    },
    nodeSpawn: async () => {
      const { ms, child } = await timeSpawn(process.execPath, [idleEntry])
      child.kill('SIGKILL')
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit')
      return ms
    },
  }

  const pairs = [
    ['trivialDaemonize', 'trivialSpawn', trivial],
    ['nodeDaemonize', 'nodeSpawn', node],
  ]
  for (const [a, b, out] of pairs) {
    for (let i = 0; i < warm + runs; i++) {
      const order = i % 2 ? [b, a] : [a, b]
      for (const side of order) {
        const ms = await sides[side]()
        if (i >= warm) (side === a ? out.daemonize : out.spawn).push(ms)
        await sleep(gapMs)
      }
    }
  }
  emit({ heapMb, rssMb: rss, buildMs, runs, warm, trivial, node, kept: heap.length })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
