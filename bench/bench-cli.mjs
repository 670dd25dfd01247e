// Scenario: the CLI end to end, and its peak memory, against `node -e 0`.
//
//   node bench/bench-cli.mjs --runs 20
//
// Every command runs under build/bench/bench-run, which times it in C
// (posix_spawn to wait4) and reports wait4's ru_maxrss (the VmHWM of the
// process). The sides are interleaved. Every daemon a `start` leaves is
// killed (through a pidfd) as soon as its launcher has exited.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { arg, emit, idleEntry, killDaemon, loadPackage, log, readyEntry, root, runProgram, sleep, trueProgram } from './bench-lib.mjs'

const runs = Number(arg('runs', '20'))
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
  const node = process.execPath
  const sides = {
    nodeE0: [node, '-e', '0'],
    start: [node, cli, 'start', idleEntry, '--startup-grace', '0'],
    startTrivial: [node, cli, 'start', idleEntry, '--startup-grace', '0', '--exec-path', trueProgram, '--no-preload'],
    startWaitReady: [node, cli, 'start', readyEntry, '--wait-ready', '30s'],
    // The same two without NODE_EXTRA_CA_CERTS (set in this sandbox; every
    // Node start-up then parses the CA bundle, which dilutes the ratio).
    nodeE0NoCa: [node, '-e', '0'],
    startNoCa: [node, cli, 'start', idleEntry, '--startup-grace', '0'],
  }
  const { NODE_EXTRA_CA_CERTS: _ca, ...envNoCa } = process.env
  const envOf = (name) => (name.endsWith('NoCa') ? envNoCa : process.env)
  const out = Object.fromEntries(Object.keys(sides).map((k) => [k, { ms: [], cpuMs: [], maxRssKb: [] }]))
  const names = Object.keys(sides)
  for (let i = 0; i < warm + runs; i++) {
    // Rotate the order so that no side always runs first.
    const order = names.map((_, k) => names[(k + i) % names.length])
    for (const name of order) {
      const r = measure(sides[name], envOf(name))
      if (r.code !== 0) throw new Error(`${sides[name].join(' ')} failed (${r.code ?? r.signal}): ${r.stderr || r.stdout}`)
      if (name.startsWith('start') && name !== 'startTrivial') {
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
  emit({ runs, warm, argv: sides, ...out })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
