// Scenario: launch latency from one caller, optionally holding a big heap.
//
//   node [--max-old-space-size=4096 --expose-gc] bench/bench-launch.mjs --heap-mb 2048 [--heap-kind js|buffers] --runs 30
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
import { arg, emit, idleEntry, killDaemon, loadPackage, log, rssMb, settle, sleep, trueProgram } from './bench-lib.mjs'

const heapMb = Number(arg('heap-mb', '0'))
const heapKind = arg('heap-kind', 'js')
const runs = Number(arg('runs', '30'))
const warm = Number(arg('warm', '3'))
const gapMs = Number(arg('gap-ms', '25'))
const blocks = arg('order', 'blocks') === 'blocks'

/**
 * Retain about targetMb of RSS.
 * js: many live JS objects (3/4: small objects with a string and a link,
 * in arrays of 250 000) and arrays of numbers (1/4: 1 MiB each), the shape
 * of a real program's heap; its page tables are what fork() copies.
 * buffers: Buffers of 16 MiB (memory outside the JS heap).
 * The shape matters to fork(): measured here at ~2 GB RSS, spawn took
 * ~4 ms with only number arrays, ~12 ms with small objects, ~90 ms with
 * Buffers.
 */
function buildHeap(targetMb, kind) {
  const keep = []
  if (targetMb <= 0) return keep
  let step = 0
  while (rssMb() < targetMb) {
    if (kind === 'buffers') {
      keep.push(Buffer.alloc(16 << 20, step & 0xff))
    } else if (step % 4 === 3) {
      for (let k = 0; k < 16; k++) {
        const a = new Array(131072)
        for (let j = 0; j < a.length; j++) a[j] = j + 0.5
        keep.push(a)
      }
    } else {
      const objects = new Array(250_000)
      let prev = null
      for (let i = 0; i < objects.length; i++) prev = objects[i] = { id: i, name: `o${i & 1023}`, next: prev }
      keep.push(objects)
    }
    step++
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
  const heap = buildHeap(heapMb, heapKind)
  if (heapMb > 0 && typeof globalThis.gc === 'function') globalThis.gc()
  const buildMs = performance.now() - t0
  await settle()
  const rss = rssMb()
  log(`launch: ${heapKind} heap target ${heapMb} MB, RSS ${rss.toFixed(0)} MB (built in ${buildMs.toFixed(0)} ms)`)

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
    if (blocks) {
      // Every daemonize() first, then every spawn: a fork() of a big caller
      // write-protects all its pages, and the copy-on-write faults that
      // follow would land in the next daemonize() measured.
      for (const side of [a, b]) {
        for (let i = 0; i < warm + runs; i++) {
          const ms = await sides[side]()
          if (i >= warm) (side === a ? out.daemonize : out.spawn).push(ms)
          await sleep(gapMs)
        }
      }
    } else {
      for (let i = 0; i < warm + runs; i++) {
        const order = i % 2 ? [b, a] : [a, b]
        for (const side of order) {
          const ms = await sides[side]()
          if (i >= warm) (side === a ? out.daemonize : out.spawn).push(ms)
          await sleep(gapMs)
        }
      }
    }
  }
  // Still held at the end (the heap is used here, so it cannot have been collected).
  const rssAfterMb = rssMb()
  emit({ heapMb, heapKind, rssMb: rss, rssAfterMb, buildMs, runs, warm, trivial, node, kept: heap.length })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
