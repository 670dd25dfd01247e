// npm run bench: every benchmark side by side in one run.
//
//   node bench/bench.mjs [--runs 30] [--only launch,cli,burst,ready,supervise,graceful,instances,rolling,balance,run]
//
// Each scenario runs in its own child process (bench/bench-*.mjs) so that
// a caller is exactly what the scenario says (fresh, or holding a 2 GB
// heap). Prints a table and writes bench/results.json and bench/chart.svg.
// Needs the built package: npm install (or npm run build:ts after a change).
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { chartSvg } from './bench-chart.mjs'
import { commandRows } from './bench-cli-rows.mjs'
import { arg, buildFixtures, dist, log, root, stats, tmpDir } from './bench-lib.mjs'
import { rollingSection } from './bench-rolling-section.mjs'

const runs = Number(arg('runs', '30'))
const only = new Set(arg('only', 'launch,cli,burst,ready,supervise,graceful,instances,rolling,balance,run').split(','))
const burstRounds = Number(arg('burst-rounds', '10'))
const burstNodeRounds = Number(arg('burst-node-rounds', '2'))

/** Run a scenario script in its own Node process; its last stdout line is the result. */
function scenario(script, args, nodeFlags = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, join(root, 'bench', script), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (code !== 0) return reject(new Error(`${script} ${args.join(' ')} failed (${code ?? signal})`))
      const lines = out.trim().split('\n')
      resolve(JSON.parse(lines[lines.length - 1]))
    })
  })
}

/** CPU time counters from /proc/stat: steal is time the hypervisor gave this VM's vCPUs to others. */
function cpuTimes() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  return { total: f.reduce((a, b) => a + b, 0), steal: f[7] ?? 0 }
}

function uptimeLine() {
  const [a, b, c] = loadavg()
  return `load average ${a.toFixed(2)}, ${b.toFixed(2)}, ${c.toFixed(2)}`
}

function machine() {
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    kernel: release(),
    node: process.version,
    memGb: Math.round(totalmem() / 2 ** 30),
    nodeExtraCaCerts: process.env.NODE_EXTRA_CA_CERTS ?? null,
  }
}

// -------------------------------------------------------------- rows/checks

const rows = []
const checks = []

function row(id, section, label, unit, samples, project, extra = {}) {
  const s = stats(samples)
  rows.push({ id, section, label, unit, project, ...s, samples, ...extra })
  return s
}

function check(name, value, target, pass, unit = '') {
  checks.push({ name, value, target, pass })
  return { name, value, unit }
}

const ratio = (a, b) => a / b

// ---------------------------------------------------------------- sections

async function launchSection(results) {
  const bigFlags = ['--max-old-space-size=6144', '--expose-gc']
  const fresh = await scenario('bench-launch.mjs', ['--heap-mb', '0', '--runs', String(runs)])
  const big = await scenario('bench-launch.mjs', ['--heap-mb', '2048', '--heap-kind', 'js', '--runs', String(runs)], bigFlags)
  const buffers = await scenario('bench-launch.mjs', ['--heap-mb', '2048', '--heap-kind', 'buffers', '--runs', String(runs)], bigFlags)
  results.launch = { fresh, big, buffers }
  const gb = (big.rssMb / 1024).toFixed(2)
  const gbBuf = (buffers.rssMb / 1024).toFixed(2)
  for (const [kind, what] of [
    ['trivial', 'execPath bench-true'],
    ['node', 'node + entry'],
  ]) {
    const df = row(`launch.${kind}.fresh.daemonize`, 'launch', `daemonize(), fresh caller, ${what}`, 'ms', fresh[kind].daemonize, true)
    const sf = row(`launch.${kind}.fresh.spawn`, 'launch', `spawn(detached), fresh caller, ${what}`, 'ms', fresh[kind].spawn, false)
    const db = row(`launch.${kind}.2g.daemonize`, 'launch', `daemonize(), ${gb} GB JS heap, ${what}`, 'ms', big[kind].daemonize, true)
    const sb = row(`launch.${kind}.2g.spawn`, 'launch', `spawn(detached), ${gb} GB JS heap, ${what}`, 'ms', big[kind].spawn, false)
    row(`launch.${kind}.2g-buffers.daemonize`, 'launch-buffers', `daemonize(), ${gbBuf} GB in Buffers, ${what}`, 'ms', buffers[kind].daemonize, true)
    row(`launch.${kind}.2g-buffers.spawn`, 'launch-buffers', `spawn(detached), ${gbBuf} GB in Buffers, ${what}`, 'ms', buffers[kind].spawn, false)
    check(`launch (${what}): daemonize median, fresh caller`, `${df.median.toFixed(2)} ms`, '≤ 3.5 ms', df.median <= 3.5)
    check(`launch (${what}): daemonize median, ${gb} GB caller`, `${db.median.toFixed(2)} ms`, '≤ 3.5 ms', db.median <= 3.5)
    const flat = ratio(db.median, df.median)
    check(`launch (${what}): daemonize ${gb} GB ÷ fresh`, flat.toFixed(2), '≤ 1.2', flat <= 1.2)
    const vsFresh = ratio(df.median, sf.median)
    check(`launch (${what}): daemonize ÷ spawn, fresh caller`, vsFresh.toFixed(2), '≤ 1.0', vsFresh <= 1)
    const vsBig = ratio(sb.median, db.median)
    check(`launch (${what}): spawn ÷ daemonize, ${gb} GB caller`, `${vsBig.toFixed(1)}×`, '≥ 10×', vsBig >= 10)
  }
}

async function cliSection(results) {
  const r = await scenario('bench-cli.mjs', ['--runs', String(Math.max(20, Math.round(runs * 0.7)))])
  results.cli = r
  if (r.skipped) {
    checks.push({ name: 'CLI rows', value: 'skipped', target: r.skipped, pass: null })
    return
  }
  const n0 = row('cli.node-e0', 'cli', 'node -e 0', 'ms', r.nodeE0.ms, false)
  const st = row('cli.start', 'cli', 'CLI start --startup-grace 0 (node + entry)', 'ms', r.start.ms, true)
  row('cli.start.trivial', 'cli', 'CLI start --startup-grace 0 --exec-path bench-true', 'ms', r.startTrivial.ms, true)
  const wr = row('ready.cli', 'ready', 'CLI start --wait-ready (two Node start-ups)', 'ms', r.startWaitReady.ms, true, { order: 1 })
  const cr = ratio(st.median, n0.median)
  check('CLI start ÷ node -e 0 (wall)', cr.toFixed(3), '≤ 1.25', cr <= 1.25)
  // CPU time (user + sys, from wait4) moves less with the machine's load.
  const c0 = row('cli.node-e0.cpu', 'cli', 'node -e 0: CPU time', 'ms', r.nodeE0.cpuMs, false)
  const c1 = row('cli.start.cpu', 'cli', 'CLI start --startup-grace 0: CPU time', 'ms', r.start.cpuMs, true)
  const cc = ratio(c1.median, c0.median)
  check('CLI start ÷ node -e 0 (CPU time)', cc.toFixed(3), '≤ 1.25', cc <= 1.25)
  checks.push({ name: 'CLI start --wait-ready ÷ node -e 0', value: ratio(wr.median, n0.median).toFixed(2), target: 'report', pass: null })
  if (r.nodeE0NoCa) {
    const n1 = row('cli.node-e0.noca', 'cli', 'node -e 0, without NODE_EXTRA_CA_CERTS', 'ms', r.nodeE0NoCa.ms, false)
    const s1 = row('cli.start.noca', 'cli', 'CLI start --startup-grace 0, without NODE_EXTRA_CA_CERTS', 'ms', r.startNoCa.ms, true)
    const q = ratio(s1.median, n1.median)
    check('CLI start ÷ node -e 0, without NODE_EXTRA_CA_CERTS (wall)', q.toFixed(3), '≤ 1.25', q <= 1.25)
  }
  commandRows(r, { row, check })
  const toMb = (kb) => kb.map((k) => k / 1024)
  const m0 = row('mem.node-e0', 'memory', 'node -e 0: peak RSS (VmHWM)', 'MB', toMb(r.nodeE0.maxRssKb), false)
  const m1 = row('mem.cli.start', 'memory', 'CLI start: peak RSS (VmHWM)', 'MB', toMb(r.start.maxRssKb), true)
  row('mem.cli.wait-ready', 'memory', 'CLI start --wait-ready: peak RSS (VmHWM)', 'MB', toMb(r.startWaitReady.maxRssKb), true)
  checks.push({ name: 'CLI start peak RSS ÷ node -e 0', value: ratio(m1.median, m0.median).toFixed(2), target: 'report', pass: null })
}

async function burstSection(results) {
  const trivial = await scenario('bench-burst.mjs', ['--program', 'trivial', '--count', '200', '--rounds', String(burstRounds)])
  const node = await scenario('bench-burst.mjs', ['--program', 'node', '--count', '200', '--rounds', String(burstNodeRounds)])
  results.burst = { trivial, node }
  for (const [name, r, what] of [
    ['trivial', trivial, 'execPath bench-true'],
    ['node', node, 'node + entry'],
  ]) {
    const s = row(`burst.${name}`, 'burst', `200 concurrent daemonize(), ${what}`, 'launches/s', r.results.map((x) => x.perSecond), true)
    const all = r.results
    const verified = all.every((x) => x.verified === r.count && x.launched === r.count)
    const alive = name === 'node' ? all.every((x) => x.alive === r.count) : true
    const zombies = all.reduce((n, x) => n + x.zombies, 0)
    const leaked = all.reduce((n, x) => n + x.leaked.length, 0)
    if (name === 'trivial') check(`burst (${what}): launches/s, median of ${all.length} rounds`, s.median.toFixed(0), '≥ 500/s', s.median >= 500)
    else checks.push({ name: `burst (${what}): launches/s, median of ${all.length} rounds`, value: s.median.toFixed(0), target: 'report', pass: null })
    check(`burst (${what}): every launch verified${name === 'node' ? ', every daemon alive' : ''}`, verified && alive ? 'yes' : 'no', 'all', verified && alive)
    check(`burst (${what}): zombies among the caller's children`, String(zombies), '0', zombies === 0)
    check(`burst (${what}): fds leaked in the caller`, String(leaked), '0', leaked === 0)
  }
}

async function readySection(results) {
  const r = await scenario('bench-ready.mjs', ['--runs', String(Math.max(20, Math.round(runs * 0.7)))])
  results.ready = r
  const d = row('ready.daemonize', 'ready', 'daemonize({ waitReadyMs }) until ready', 'ms', r.daemonize, true)
  const f = row('ready.foreground', 'ready', 'spawn(node, [entry]) until its first line', 'ms', r.foreground, false)
  const q = ratio(d.median, f.median)
  check('time to ready: daemonize ÷ foreground', q.toFixed(3), '≤ 1.1', q <= 1.1)
  if (!r.readyModule) checks.push({ name: 'ready()', value: 'dist/daemon/index.js missing', target: 'entry wrote READY=1 itself', pass: null })
}

async function superviseSection(results) {
  const r = await scenario('bench-supervise.mjs', ['--runs', String(Math.max(20, Math.round(runs * 0.7)))])
  results.supervise = r
  const { supervisor, idleNode } = r.memory
  row('supervise.rss', 'supervise', 'supervisor VmRSS, one daemon', 'kB', [supervisor.rssKb], true)
  row('supervise.pss', 'supervise', 'supervisor PSS, one daemon', 'kB', [supervisor.pssKb], true)
  row('supervise.node-rss', 'supervise', 'idle `node -e` VmRSS', 'kB', [idleNode.rssKb], false)
  row('supervise.node-pss', 'supervise', 'idle `node -e` PSS', 'kB', [idleNode.pssKb], false)
  check('supervisor VmRSS', `${supervisor.rssKb} kB`, '≤ 1 MB', supervisor.rssKb <= 1024)
  check('supervisor VmRSS ÷ idle node -e VmRSS', (supervisor.rssKb / idleNode.rssKb).toFixed(3), '< 1', supervisor.rssKb < idleNode.rssKb)
  const l = row('supervise.respawn', 'supervise', 'respawn: SIGKILL → next generation runs (delay 0)', 'ms', r.latency, true)
  check('respawn latency minus the delay', `${l.median.toFixed(2)} ms`, '≤ 5 ms', l.median <= 5)
  const f = row('supervise.foreground', 'supervise', 'HTTP entry, foreground start → first answer', 'ms', r.foreground, false)
  const s = row('supervise.serving', 'supervise', `HTTP daemon, SIGKILL → answering again (delay ${r.servingDelayMs} ms)`, 'ms', r.serving, true)
  const q = ratio(s.median - r.servingDelayMs, f.median)
  check('serving again minus the delay ÷ foreground start', q.toFixed(3), '≤ 1.1', q <= 1.1)
}

// --instances: throughput against 1 instance and pm2's cluster (autocannon,
// same run; skipped without npm run bench:peers), the supervisor's memory
// with 8, respawn latency with 4; and the balance between instances.
async function instancesSection(results) {
  const r = await scenario('bench-instances.mjs', ['--runs', String(Math.max(20, Math.round(runs * 0.7)))])
  results.instances = r
  if (r.throughput) {
    const { rps } = r.throughput
    const one = row('instances.rps-1', 'instances', '1 instance: requests/s (autocannon, 20 connections, 1 ms CPU per request)', 'req/s', rps.one, true)
    const two = row('instances.rps-2', 'instances', '2 instances, one shared socket: requests/s', 'req/s', rps.two, true)
    const pm2 = row('instances.rps-pm2', 'instances', `pm2 ${r.throughput.pm2} cluster -i 2: requests/s`, 'req/s', rps.pm2, false)
    check('2 instances ÷ 1 instance, requests/s', ratio(two.median, one.median).toFixed(2), '≥ 1.3', two.median / one.median >= 1.3)
    check('2 instances ÷ pm2 cluster -i 2, requests/s', ratio(two.median, pm2.median).toFixed(2), '≥ 1.0', two.median >= pm2.median)
  } else {
    check('instances throughput', 'not measured', 'npm run bench:peers first', false)
  }
  row('instances.rss-8', 'instances', 'supervisor VmRSS, 8 instances', 'kB', [r.memory.rssKb], true)
  check('supervisor VmRSS with 8 instances', `${r.memory.rssKb} kB`, '≤ 1 MB', r.memory.rssKb <= 1024)
  const l = row('instances.respawn', 'instances', 'respawn with 4 instances: SIGKILL of one → its next generation runs (delay 0)', 'ms', r.respawn.latency, true)
  check('respawn latency with 4 instances minus the delay', `${l.median.toFixed(2)} ms`, '≤ 5 ms', l.median <= 5)
}

async function balanceSection(results) {
  const r = await scenario('bench-balance.mjs', ['--seconds', '2', '--trials', '3'])
  results.balance = r
  const cells = new Map()
  for (const x of r.results) {
    const key = `${x.design} ${x.instances} ${x.kind}`
    const c = cells.get(key) ?? { ...x, devs: [] }
    // Keep-alive: balance by connection.
    c.devs.push(x.kind === 'keep-alive' ? x.connections.maxDevPct : x.requests.maxDevPct)
    cells.set(key, c)
  }
  for (const c of cells.values()) {
    const by = c.kind === 'keep-alive' ? 'connections' : 'requests'
    const label = `${c.instances} instances, ${c.design === 'shared' ? 'one shared socket' : 'SO_REUSEPORT socket each'}, ${c.kind}: largest deviation from the mean share of ${by}`
    const st = row(`balance.${c.design}-${c.instances}-${c.kind}`, 'balance', label, '%', c.devs, c.design === 'shared')
    if (c.design === 'shared') check(`balance, ${c.instances} instances, ${c.kind} (worst of ${c.devs.length})`, `±${st.max}%`, '±20%', st.max <= 20)
  }
}

async function gracefulSection(results) {
  const r = await scenario('bench-graceful.mjs', ['--runs', String(Math.max(10, Math.round(runs / 3)))])
  results.graceful = r
  const f = row('graceful.failed', 'graceful', 'graceful restart under load: failed requests per restart', 'requests', r.failedPerRestart, true)
  check('failed requests per graceful restart (9 clients busy, 3 keep-alive never retrying)', `${f.max}`, '0', f.max === 0)
  const d = row('graceful.duration', 'graceful', 'graceful restart: request → new generation serving', 'ms', r.duration, true)
  const rd = row('graceful.ready', 'graceful', "the new generation's own fork → ready()", 'ms', r.ready, false)
  const q = ratio(d.median, rd.median)
  check("graceful restart ÷ the new generation's time to ready", q.toFixed(3), '≤ 1.1', q <= 1.1)
}

async function runSection(results) {
  const r = await scenario('bench-run.mjs', ['--runs', String(Math.max(10, Math.round(runs * 0.7)))])
  results.run = r
  for (const [name, why] of Object.entries(r.skipped)) checks.push({ name: `run: ${name}`, value: 'skipped', target: why, pass: null })
  const ours = 'node-daemonize run'
  for (const [name, m] of Object.entries(r.memory)) {
    row(`run.rss.${name}`, 'run', `PID 1 VmRSS: ${name}`, 'kB', [m.rssKb], name === ours)
    row(`run.pss.${name}`, 'run', `PID 1 PSS: ${name}`, 'kB', [m.pssKb], name === ours)
  }
  for (const [name, samples] of Object.entries(r.term)) row(`run.term.${name}`, 'run', `SIGTERM → PID 1 exits, empty drain: ${name}`, 'ms', samples, name === ours)
  const m = r.memory[ours]
  check('run: PID 1 VmRSS', `${m.rssKb} kB`, '≤ 1 MB', m.rssKb <= 1024)
}

// ---------------------------------------------------------------- output

/** Rows grouped by section (in order of first appearance), then by their order. */
function grouped() {
  const sections = [...new Set(rows.map((r) => r.section))]
  return sections.flatMap((sec) => rows.filter((r) => r.section === sec).sort((a, b) => (a.order ?? 0) - (b.order ?? 0)))
}

function table() {
  const lines = []
  const w = Math.max(...rows.map((r) => r.label.length), 12)
  const num = (v, unit) => (unit === 'launches/s' ? v.toFixed(0) : unit === 'MB' ? v.toFixed(1) : v.toFixed(2))
  lines.push(`${'measurement'.padEnd(w)}  ${'unit'.padEnd(10)} ${'median'.padStart(9)} ${'min'.padStart(9)} ${'max'.padStart(9)}  n`)
  let section = ''
  for (const r of grouped()) {
    if (r.section !== section) {
      section = r.section
      lines.push(`-- ${section}`)
    }
    lines.push(
      `${r.label.padEnd(w)}  ${r.unit.padEnd(10)} ${num(r.median, r.unit).padStart(9)} ${num(r.min, r.unit).padStart(9)} ${num(r.max, r.unit).padStart(9)}  ${r.n}`,
    )
  }
  lines.push('')
  const cw = Math.max(...checks.map((c) => c.name.length))
  for (const c of checks) {
    const mark = c.pass === null ? '  --' : c.pass ? '  ok' : 'MISS'
    lines.push(`${mark}  ${c.name.padEnd(cw)}  ${String(c.value).padStart(8)}  (target ${c.target})`)
  }
  return lines.join('\n')
}

function markdownTable() {
  const num = (v, unit) => (unit === 'launches/s' ? v.toFixed(0) : unit === 'MB' ? v.toFixed(1) : v.toFixed(2))
  const out = ['| measurement | unit | median | min | max | n |', '|---|---|---:|---:|---:|---:|']
  for (const r of grouped()) out.push(`| ${r.label} | ${r.unit} | ${num(r.median, r.unit)} | ${num(r.min, r.unit)} | ${num(r.max, r.unit)} | ${r.n} |`)
  out.push('', '| check | value | target | |', '|---|---:|---|---|')
  for (const c of checks) out.push(`| ${c.name} | ${c.value} | ${c.target} | ${c.pass === null ? '' : c.pass ? 'ok' : '**missed**'} |`)
  return out.join('\n')
}

function chart(meta) {
  const sections = [
    ['launch', 'Launch latency until exec is confirmed: fresh caller and a 2 GB JS heap', 'ms', [{ value: 3.5, label: 'target 3.5 ms' }]],
    ['launch-buffers', 'Launch latency until exec is confirmed: a caller holding 2 GB in Buffers', 'ms', [{ value: 3.5, label: 'target 3.5 ms' }]],
    ['cli', 'CLI end to end (timed in C, posix_spawn to wait4)', 'ms', []],
    ['ready', 'Time to ready', 'ms', []],
    ['burst', '200 daemons launched concurrently from one caller', 'launches/s', [{ value: 500, label: 'target 500/s' }]],
    ['memory', 'Peak memory of the launcher process', 'MB', []],
  ]
  const panels = sections.map(([id, title, unit, targets]) => ({
    title,
    unit,
    targets,
    rows: rows.filter((r) => r.section === id).sort((a, b) => (a.order ?? 0) - (b.order ?? 0)),
  }))
  return chartSvg(panels, {
    title: 'node-daemonize benchmarks: medians, min–max whiskers (blue: the project)',
    subtitle: `${meta.date} · ${meta.machine.nproc} × ${meta.machine.cpu} · Linux ${meta.machine.kernel} · Node ${meta.machine.node} · ${meta.loadBefore}${
      meta.machine.nodeExtraCaCerts ? ' · NODE_EXTRA_CA_CERTS set' : ''
    }`,
  })
}

/** Replace the table between the markers in BENCHMARKS.md (when they are there). */
function updateBenchmarksMd(meta) {
  const file = join(root, 'BENCHMARKS.md')
  if (!existsSync(file)) return
  const text = readFileSync(file, 'utf8')
  const start = '<!-- bench:table:start -->'
  const end = '<!-- bench:table:end -->'
  const a = text.indexOf(start)
  const b = text.indexOf(end)
  if (a < 0 || b < a) return
  const m = meta.machine
  const head = [
    `Run ${meta.date}: ${m.nproc} × ${m.cpu}, Linux ${m.kernel}, Node ${m.node}, ${m.memGb} GB RAM, ` +
      `NODE_EXTRA_CA_CERTS ${m.nodeExtraCaCerts ? `set (${m.nodeExtraCaCerts})` : 'not set'}; ` +
      `${meta.loadBefore} before, ${meta.loadAfter} after; CPU steal (time the hypervisor gave to other VMs) ${meta.stealPercent.toFixed(1)}% during the run; ${meta.runs} runs per launch row.`,
    '',
    '',
  ]
  writeFileSync(file, `${text.slice(0, a + start.length)}\n${head.join('\n')}${markdownTable()}\n${text.slice(b)}`)
}

async function main() {
  if (!existsSync(join(dist, 'index.js'))) throw new Error('dist/index.js is missing: run npm install, or npm run build:ts')
  buildFixtures()
  mkdirSync(tmpDir, { recursive: true })
  mkdirSync(join(root, 'bench'), { recursive: true })

  const meta = { date: new Date().toISOString(), machine: machine(), loadBefore: uptimeLine(), runs }
  const cpuBefore = cpuTimes()
  log(`bench: ${meta.machine.nproc} × ${meta.machine.cpu}, Node ${meta.machine.node}, ${meta.loadBefore}`)
  const results = {}
  const sections = {
    launch: launchSection,
    cli: cliSection,
    ready: readySection,
    burst: burstSection,
    supervise: superviseSection,
    graceful: gracefulSection,
    instances: instancesSection,
    rolling: async (results) => (results.rolling = await rollingSection({ scenario, row, check, checks })),
    balance: balanceSection,
    run: runSection,
  }
  for (const [name, run] of Object.entries(sections)) {
    if (!only.has(name)) continue
    // One section failing (say, the CLI changed its output) must not cost
    // the others: the failure is a row of the checks.
    try {
      await run(results)
    } catch (err) {
      log(`bench: section ${name} failed: ${err.stack ?? err}`)
      checks.push({ name: `section ${name}`, value: 'failed', target: String(err.message ?? err).split('\n')[0], pass: false })
    }
  }
  meta.loadAfter = uptimeLine()
  // Other VMs on the host do not show in the load average; their share shows as steal.
  const cpuAfter = cpuTimes()
  meta.stealPercent = (100 * (cpuAfter.steal - cpuBefore.steal)) / Math.max(1, cpuAfter.total - cpuBefore.total)

  const text = table()
  process.stdout.write(`\n${text}\n\n${meta.loadBefore} before, ${meta.loadAfter} after; CPU steal ${meta.stealPercent.toFixed(1)}%\n`)
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  writeFileSync(
    join(root, 'bench', 'results.json'),
    `${JSON.stringify({ package: `${pkg.name}@${pkg.version}`, ...meta, rows, checks, markdown: markdownTable(), raw: results }, null, 1)}\n`,
  )
  writeFileSync(join(root, 'bench', 'chart.svg'), chart(meta))
  updateBenchmarksMd(meta)
  log('wrote bench/results.json, bench/chart.svg and the table in BENCHMARKS.md')
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
