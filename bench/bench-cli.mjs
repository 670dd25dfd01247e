// Scenario: the CLI end to end, and its peak memory, against `node -e 0`.
//
//   node bench/bench-cli.mjs --runs 20
//
// Measuring starts once the whole machine is quiet (bench-lib.mjs
// machineQuiet: the names root's 100 launches, and in npm run bench the
// section before, leave the CPUs busy for a while); the wait is in the
// result (quietMs).
//
// Every command runs under build/bench/bench-run, which times it in C
// (posix_spawn to wait4) and reports wait4's ru_maxrss (the VmHWM of the
// process). The sides are interleaved. Every daemon a `start` leaves is
// killed (through a pidfd) as soon as its launcher has exited.
//
// The command rows (`cmd*`, without NODE_EXTRA_CA_CERTS, as most users run
// it; interleaved as a group of their own with their own `node -e 0`,
// `cmdBase`, after the launch rows) run every command against a names root
// that holds 100 saved names, 10 of them running; each row also gives the number of
// modules the command loaded (one untimed run with the recorder the tests
// use, test/fixtures/module-recorder.cjs).
//
//   node bench/bench-cli.mjs --runs 20 [--sides nodeE0NoCa,cmdStatus,...] [--node PATH]
//
// --node runs every side with that Node (e.g. a Node 22 to measure the
// compile cache: where the Node has module.enableCompileCache, each command
// row gets a twin `...NoCache` with NODE_DISABLE_COMPILE_CACHE=1, and one
// untimed run of each command fills the cache first).
//
// --cli-b DIR adds, for each command row, a twin `...B` that runs DIR's
// bin/node-daemonize.js (another build of the package, e.g. a copy of bin/,
// dist/, build/Release and package.json made before a change): an A/B of
// two builds in one interleaved run, over the same names root.
import { spawnSync } from 'node:child_process'
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { arg, emit, idleEntry, killDaemon, loadPackage, log, machineQuiet, readyEntry, root, runProgram, sleep, tmpDir, trueProgram } from './bench-lib.mjs'

const runs = Number(arg('runs', '20'))
// The command rows differ from node -e 0 by a few ms, and one round's
// difference here moves by ±8 ms with the host: six times the rounds
// (~1 s each). With three times, the median of one row still moved by
// ±1 ms between two runs minutes apart, as much as the targets' margins.
const cmdRuns = Number(arg('cmd-runs', String(runs * 6)))
const warm = Number(arg('warm', '2'))
const gapMs = Number(arg('gap-ms', '50'))
const cli = join(root, 'bin', 'node-daemonize.js')

/** Run argv under bench-run; returns { ms, cpuMs, maxRssKb, code, signal, stdout, stderr }. */
function measure(argv, env = process.env) {
  const r = spawnSync(runProgram, argv, { encoding: 'utf8', maxBuffer: 1 << 24, env })
  const line = r.stderr.split('\n').find((l) => l.startsWith('BENCH-RUN '))
  if (!line) throw new Error(`bench-run gave no result for ${argv.join(' ')}: ${r.stderr}`)
  const result = JSON.parse(line.slice('BENCH-RUN '.length))
  return { ...result, stdout: r.stdout, stderr: r.stderr.replace(`${line}\n`, '') }
}

/** The pid a `start` reported ("... as pid N ..."). */
function startedPid(out) {
  const m = /\bpid (\d+)/.exec(out)
  return m ? Number(m[1]) : undefined
}

async function main() {
  const pkg = await loadPackage()
  // The bundle's name is the build's business (dist/cli.js, then
  // dist/cli.cjs); the bin is what a user runs.
  if (!existsSync(cli) || !['cli.js', 'cli.cjs'].some((f) => existsSync(join(root, 'dist', f)))) {
    log(`cli: ${cli} or its bundle in dist/ is missing: the CLI rows are skipped until they exist`)
    emit({ skipped: 'bin/node-daemonize.js or its bundle in dist/ missing' })
    return
  }
  const node = arg('node', process.execPath)
  const names = await namesRoot(pkg)
  const cmd = (...args) => [node, cli, ...args]
  const sides = {
    nodeE0: [node, '-e', '0'],
    start: [node, cli, 'start', idleEntry, '--startup-grace', '0'],
    startTrivial: [node, cli, 'start', idleEntry, '--startup-grace', '0', '--exec-path', trueProgram, '--no-preload'],
    startWaitReady: [node, cli, 'start', readyEntry, '--wait-ready', '30s'],
    // The same two without NODE_EXTRA_CA_CERTS (set in this sandbox; every
    // Node start-up then parses the CA bundle, which dilutes the ratio).
    nodeE0NoCa: [node, '-e', '0'],
    startNoCa: [node, cli, 'start', idleEntry, '--startup-grace', '0'],
    // Every command, without the CA bundle, against the names root.
    cmdHelp: cmd('--help'),
    cmdStatus: cmd('status', names.running),
    cmdStop: cmd('stop', names.stopped),
    cmdList: cmd('list'),
    cmdLogs: cmd('logs', names.running, '-n', '20'),
    cmdStart: cmd('start', idleEntry, '--startup-grace', '0'),
    // The commands' own `node -e 0` (without the CA bundle): the command
    // rows run as a group of their own (see round()).
    cmdBase: [node, '-e', '0'],
  }
  const offersCache = spawnSync(node, ['-p', "typeof require('node:module').enableCompileCache"], { encoding: 'utf8' }).stdout.trim() === 'function'
  const twinned = (k) => k.startsWith('cmd') && k !== 'cmdBase'
  if (offersCache) for (const k of Object.keys(sides)) if (twinned(k)) sides[`${k}NoCache`] = sides[k]
  const only = arg('sides', '')
  if (only !== '') for (const k of Object.keys(sides)) if (!only.split(',').includes(k)) delete sides[k]
  const cliB = arg('cli-b', '')
  if (cliB !== '') {
    const binB = join(cliB, 'bin', 'node-daemonize.js')
    for (const k of Object.keys(sides)) if (twinned(k)) sides[`${k}B`] = sides[k].map((a) => (a === cli ? binB : a))
  }
  const { NODE_EXTRA_CA_CERTS: _ca, ...envNoCa } = process.env
  const envNames = { ...envNoCa, NODE_DAEMONIZE_TEST_ROOT: names.top }
  const envNoCache = { ...envNames, NODE_DISABLE_COMPILE_CACHE: '1' }
  const envOf = (name) => (name.endsWith('NoCache') ? envNoCache : name.startsWith('cmd') ? envNames : name.endsWith('NoCa') ? envNoCa : process.env)
  // What a command exits with: status of a running daemon 0, stop of a stopped one 0.
  const out = Object.fromEntries(Object.keys(sides).map((k) => [k, { ms: [], cpuMs: [], maxRssKb: [] }]))
  const sideNames = Object.keys(sides)
  // Two groups, each interleaved on its own: the launch rows (with and
  // without the CA bundle, start --wait-ready's two Node start-ups) and the
  // command rows with their own node -e 0. Mixed in one rotation, a
  // command measured right after a CA-bundle start came out 2-5 ms slower
  // (the caches that start churned), which is not the command's cost.
  const groups = [sideNames.filter((n) => !n.startsWith('cmd')), sideNames.filter((n) => n.startsWith('cmd'))].filter((g) => g.length > 0)
  let quietMs = 0
  try {
    // (also the run that fills the compile cache, where there is one)
    for (const name of sideNames) if (name.startsWith('cmd') || name === 'nodeE0NoCa') out[name].modules = await moduleCount(pkg, sides[name], envOf(name))
    // The names root's 100 launches (and the section before, in npm run
    // bench) still busy the CPUs: measure on a quiet machine.
    quietMs = await machineQuiet()
    for (const group of groups) {
      const n = group[0].startsWith('cmd') ? cmdRuns : runs
      for (let i = 0; i < warm + n; i++) await round(group, i)
    }
  } finally {
    await names.cleanUp()
  }
  emit({ runs, cmdRuns, warm, node: spawnSync(node, ['-v'], { encoding: 'utf8' }).stdout.trim(), compileCache: offersCache, argv: sides, load: names.load, quietMs, ...out })

  async function round(group, i) {
    // Rotate the order so that no side always runs first.
    const order = group.map((_, k) => group[(k + i) % group.length])
    for (const name of order) {
      const r = measure(sides[name], envOf(name))
      if (r.code !== 0) throw new Error(`${sides[name].join(' ')} failed (${r.code ?? r.signal}): ${r.stderr || r.stdout}`)
      if ((name.startsWith('start') && name !== 'startTrivial') || name.startsWith('cmdStart')) {
        const pid = startedPid(r.stdout)
        if (pid === undefined) throw new Error(`no pid in the output of start: ${r.stdout}`)
        await killDaemon(pkg.native, pid)
      }
      if (i >= warm) {
        out[name].ms.push(r.ms)
        out[name].cpuMs.push(r.cpuMs)
        out[name].maxRssKb.push(r.maxRssKb)
      }
      await sleep(gapMs)
    }
  }
}

/**
 * A names root (NODE_DAEMONIZE_TEST_ROOT) with 100 saved names, the first 10
 * running; the first one's log holds 1000 lines for `logs -n 20`.
 */
async function namesRoot(pkg) {
  // In /tmp, not bench/tmp: every command walks its directories from / (the
  // directory rule), and /tmp/X/var/lib/node-daemonize is nearer the real
  // /var/lib/node-daemonize's depth.
  const top = mkdtempSync(join(tmpdir(), 'nd-bench-names-'))
  chmodSync(top, 0o755)
  const env = { ...process.env, NODE_DAEMONIZE_TEST_ROOT: top }
  const pids = []
  const run = (...args) => {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env })
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`)
    return r.stdout
  }
  for (let n = 0; n < 100; n++) {
    const pid = startedPid(run('start', idleEntry, '--name', `bench-${n}`, '--startup-grace', '0'))
    if (n < 10) pids.push(pid)
    else run('stop', `bench-${n}`)
  }
  const lines = Array.from({ length: 1000 }, (_, k) => `line ${k} of the bench log, long enough to look like one\n`).join('')
  appendFileSync(join(top, 'var', 'log', 'node-daemonize', 'bench-0.log'), lines)
  const [l1] = readFileSync('/proc/loadavg', 'utf8').split(' ')
  return {
    top,
    running: 'bench-0',
    stopped: 'bench-50',
    load: Number(l1),
    async cleanUp() {
      for (const pid of pids) await killDaemon(pkg.native, pid)
      rmSync(top, { recursive: true, force: true })
    },
  }
}

/**
 * How many modules a command loads: Node's builtins (process.moduleLoadList's
 * NativeModule entries, `node -e 0`'s included) and the files it requires
 * (require.cache), recorded at exit by test/fixtures/module-recorder.cjs.
 */
async function moduleCount(pkg, argv, env) {
  const file = join(tmpDir, `module-count-${process.pid}.json`)
  rmSync(file, { force: true })
  const [node, ...rest] = argv
  const r = spawnSync(node, ['--require', join(root, 'test', 'fixtures', 'module-recorder.cjs'), ...rest], {
    encoding: 'utf8',
    env: { ...env, MODULE_RECORDER_FILE: file },
  })
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`)
  if (argv.includes('start')) await killDaemon(pkg.native, startedPid(r.stdout))
  const { files, builtins } = JSON.parse(readFileSync(file, 'utf8'))
  rmSync(file, { force: true })
  return { builtins: builtins.length, files: files.length, fileList: files, builtinList: builtins }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
