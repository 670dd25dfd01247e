// Shared pieces of the benchmarks: paths, statistics, /proc readers and
// killing daemons by pidfd. Scenario scripts (bench-*.mjs) run in their own
// child processes and print one JSON line; bench.mjs puts them together.
import { execFileSync } from 'node:child_process'
import { createServer } from 'node:net'
import { closeSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')
export const dist = join(root, 'dist')
export const fixtures = join(root, 'bench', 'fixtures')
// Not build/: node-gyp rebuild empties that directory.
export const buildDir = join(root, 'bench', 'tmp', 'bin')
export const tmpDir = join(root, 'bench', 'tmp')

/** The static exit-0 program both sides exec when the program should cost nothing. */
export const trueProgram = join(buildDir, 'bench-true')
export const runProgram = join(buildDir, 'bench-run')
export const idleEntry = join(fixtures, 'bench-idle.js')
export const readyEntry = join(fixtures, 'bench-ready.mjs')

/** Compile a C fixture into buildDir when it is missing or older than its source. */
function compile(src, out, flags) {
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return
  mkdirSync(buildDir, { recursive: true })
  execFileSync('cc', [...flags, '-o', out, src], { stdio: 'inherit' })
}

/** The C programs the benchmarks run: bench-true (static) and bench-run. */
export function buildFixtures() {
  compile(join(fixtures, 'bench-true.c'), trueProgram, ['-O2', '-static'])
  compile(join(fixtures, 'bench-run.c'), runProgram, ['-O2', '-Wall'])
}

/** The built package (dist/index.js) and its internal addon surface. */
export async function loadPackage() {
  const index = join(dist, 'index.js')
  if (!existsSync(index)) throw new Error(`${index} is missing: run npm run build:ts first`)
  buildFixtures()
  const pkg = await import(pathToFileURL(index).href)
  const { native } = await import(pathToFileURL(join(dist, 'native.js')).href)
  return { ...pkg, native }
}

/** A loopback port free right now (the kernel's pick). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen({ port: 0, host: '127.0.0.1' }, () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** median, min, max, mean of a sample (ms or any unit). */
export function stats(samples) {
  const s = [...samples].sort((a, b) => a - b)
  const n = s.length
  if (n === 0) return { n: 0, median: NaN, min: NaN, max: NaN, mean: NaN, p90: NaN }
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
  return {
    n,
    median,
    min: s[0],
    max: s[n - 1],
    mean: s.reduce((a, b) => a + b, 0) / n,
    p90: s[Math.min(n - 1, Math.floor(n * 0.9))],
  }
}

export function procStat(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const close = text.lastIndexOf(')')
  const rest = text.slice(close + 2).split(' ')
  return { state: rest[0], ppid: Number(rest[1]) }
}

/** The caller's own children that are zombies (pid 1 reaps orphans late here). */
export function zombieChildren(ppid = process.pid) {
  const out = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const st = procStat(Number(name))
      if (st.ppid === ppid && st.state === 'Z') out.push(Number(name))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

/** fd -> target of this process's open fds (the readdir's own fd excluded). */
export function openFds() {
  const out = new Map()
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      out.set(Number(name), readlinkSync(`/proc/self/fd/${name}`))
    } catch {
      // the directory fd readdir used, closed by now
    }
  }
  return out
}

/** Fds open now that were not open before (same number and target). */
export function leakedFds(before, after = openFds()) {
  const leaked = []
  for (const [fd, target] of after) if (before.get(fd) !== target) leaked.push(`${fd} -> ${target}`)
  return leaked
}

export function peakRssMb(pid = 'self') {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

export function rssMb(pid = 'self') {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

/**
 * SIGKILL a daemon through a pidfd (never a recycled pid) and wait until it
 * has exited. Returns false when it was already gone.
 */
export async function killDaemon(native, pid) {
  let pidfd
  try {
    pidfd = native().pidfdOpen(pid)
  } catch {
    return false
  }
  try {
    try {
      native().pidfdSendSignal(pidfd, 9)
    } catch {
      // exited meanwhile: the pidfd is readable anyway
    }
    await new Promise((resolve) => {
      const w = new (native().FdWatcher)(pidfd, () => {
        w.close()
        resolve()
      })
    })
  } finally {
    closeSync(pidfd)
  }
  return true
}

/** True while a process exists (a pidfd can be opened for it) and is not a zombie. */
export function exists(native, pid) {
  try {
    closeSync(native().pidfdOpen(pid))
  } catch {
    return false
  }
  try {
    return procStat(pid).state !== 'Z'
  } catch {
    return false
  }
}

/**
 * Wait until this process is idle: after building a big heap and a full
 * GC, V8's threads go on sweeping for a while (~0.5 s of CPU for 2 GB
 * here), and that work would take the CPU of the launches measured next.
 * Idle: less than 10 ms of CPU in a 300 ms window (at most maxMs).
 */
export async function settle(maxMs = 20_000) {
  const end = Date.now() + maxMs
  for (;;) {
    const before = process.cpuUsage()
    await sleep(300)
    const used = process.cpuUsage(before)
    if ((used.user + used.system) / 1000 < 10 || Date.now() > end) return
  }
}

/** The machine's CPU time so far (/proc/stat's first line): busy and total, in ticks. */
function machineTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const total = f.reduce((a, b) => a + b, 0)
  // idle and iowait are not busy
  return { busy: total - f[3] - (f[4] ?? 0), total }
}

/**
 * Wait until the whole machine is quiet: what the section before left
 * running (a 2 GB caller's memory handed back, daemons booting, a burst of
 * launches reaped) takes CPU from the few milliseconds a CLI row measures.
 * Quiet: under 10% of all CPUs busy in two 300 ms windows in a row (at
 * most maxMs). Returns how long it waited.
 */
export async function machineQuiet(maxMs = 30_000) {
  const start = Date.now()
  let calm = 0
  while (calm < 2 && Date.now() - start < maxMs) {
    const a = machineTicks()
    await sleep(300)
    const b = machineTicks()
    calm = (b.busy - a.busy) / Math.max(1, b.total - a.total) < 0.1 ? calm + 1 : 0
  }
  return Date.now() - start
}

/** Print the scenario's result for the parent (the last line of stdout). */
export function emit(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

export function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback
}

export function log(...parts) {
  process.stderr.write(`${parts.join(' ')}\n`)
}
