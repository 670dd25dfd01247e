// Measures which top-level functions of the CLI's bundles run in the
// commands scripts run again and again, and writes them to
// scripts/eager-functions.json, which the build makes eager
// (scripts/eager.mjs says why). Run it after a change to the CLI's code:
//
//   node scripts/eager-profile.mjs        (the addon and helper built)
//
// It builds the bundles with --no-eager (each with a side file naming its
// top-level functions), runs each command against a scratch names root
// (NODE_DAEMONIZE_TEST_ROOT) holding a running and a stopped daemon, with
// V8's --log-function-events, stops what it started, and builds again.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { functionEvents } from './eager.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
const cli = join(root, 'bin', 'node-daemonize.js')
const build = (...args) => execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), ...args], { stdio: 'inherit' })

const scratch = mkdtempSync(join(tmpdir(), 'nd-eager-profile-'))
const entry = join(scratch, 'idle.js')
writeFileSync(entry, 'console.log("up")\nsetInterval(() => {}, 1 << 30)\n')
const { NODE_EXTRA_CA_CERTS: _ca, NODE_OPTIONS: _opts, ...env } = process.env
env.NODE_DAEMONIZE_TEST_ROOT = scratch

/** Run the CLI; with a log path, under --log-function-events. */
function run(args, log) {
  const flags = log ? ['--log-function-events', `--logfile=${log}`, '--no-logfile-per-isolate'] : []
  const r = spawnSync(process.execPath, [...flags, cli, ...args], { env, encoding: 'utf8' })
  if (r.status !== 0 && !(args[0] === 'status' && r.status === 3)) throw new Error(`${args.join(' ')}: exit ${r.status}: ${r.stderr}`)
  return r.stdout
}

const started = []
const scenarios = [
  ['status', 'prof-run'],
  ['status', 'prof-stopped'],
  ['stop', 'prof-stopped'],
  ['logs', 'prof-run', '-n', '20'],
  ['list'],
  ['start', entry, '--startup-grace', '0'],
  ['start', entry, '--name', 'prof-named', '--startup-grace', '0'],
  ['--help'],
]

try {
  build('--no-eager')
  run(['start', entry, '--name', 'prof-run', '--startup-grace', '0'])
  run(['start', entry, '--name', 'prof-stopped', '--startup-grace', '0'])
  run(['stop', 'prof-stopped'])

  const hot = {}
  const sides = Object.fromEntries(
    readdirSync(dist)
      .filter((f) => f.endsWith('.functions.json'))
      .map((f) => [join(dist, f.replace(/\.functions\.json$/, '.cjs')), new Map(JSON.parse(readFileSync(join(dist, f), 'utf8')))]),
  )
  for (const [i, args] of scenarios.entries()) {
    const log = join(scratch, `v8-${i}.log`)
    const out = run(args, log)
    const pid = /\bas pid (\d+)/.exec(out)?.[1]
    if (args[0] === 'start' && pid !== undefined && !args.includes('--name')) started.push(Number(pid))
    for (const e of functionEvents(readFileSync(log, 'utf8'))) {
      if (e.kind !== 'first-execution' || sides[e.script] === undefined) continue
      const key = sides[e.script].get(e.start)
      if (key) (hot[basename(e.script, '.cjs')] ??= new Set()).add(key)
    }
  }
  const out = Object.fromEntries(Object.keys(hot).sort().map((b) => [b, [...hot[b]].sort()]))
  writeFileSync(join(root, 'scripts', 'eager-functions.json'), `${JSON.stringify(out, null, 2)}\n`)
  for (const [b, keys] of Object.entries(out)) console.log(`${b}: ${keys.length} functions`)
} finally {
  for (const name of ['prof-run', 'prof-named']) spawnSync(process.execPath, [cli, 'stop', name], { env })
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
  rmSync(scratch, { recursive: true, force: true })
  if (existsSync(dist)) build()
}
