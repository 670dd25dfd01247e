// Shared by bench/run-inits.mjs (the `run` checks against tini and
// dumb-init) and bench/bench-run.mjs (PID 1's memory, SIGTERM to exit):
// each init started as PID 1 of a new PID namespace, its output collected.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { root, sleep, tmpDir } from './bench-lib.mjs'

export const cli = join(root, 'bin', 'node-daemonize.js')
export const runApp = join(root, 'test', 'fixtures', 'run-app.mjs')
export const ptyRun = join(root, 'test', 'fixtures', 'pty-run.py')
/** pm2 as `npm run bench:peers` (install-peers.mjs) puts it in bench/tmp/peers. */
export const pm2Runtime = join(tmpDir, 'peers', 'node_modules', '.bin', 'pm2-runtime')

/** The inits compared, as the command that runs `node app ...args` under each. */
export const inits = {
  'node-daemonize run': (app, args) => [process.execPath, cli, 'run', app, '--', ...args],
  tini: (app, args) => ['tini', '--', process.execPath, app, ...args],
  'dumb-init': (app, args) => ['dumb-init', process.execPath, app, ...args],
  'pm2-runtime': (app, args) => [pm2Runtime, app, '--no-autorestart', ...(args.length ? ['--', ...args] : [])],
}

/** Is `cmd` on PATH (or a path that exists)? */
export function have(cmd) {
  if (cmd.includes('/')) return existsSync(cmd)
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0
}

/** tini and dumb-init from Debian, when missing: the reason they cannot be had, or undefined. */
export function ensureDebianInits() {
  if (have('tini') && have('dumb-init')) return undefined
  const update = spawnSync('apt-get', ['update'], { stdio: 'ignore' })
  const install = update.status === 0 ? spawnSync('apt-get', ['install', '-y', 'tini', 'dumb-init'], { stdio: 'ignore' }) : update
  if (have('tini') && have('dumb-init')) return undefined
  return `apt-get ${update.status === 0 ? 'install -y tini dumb-init' : 'update'} failed (status ${install.status}): tini and dumb-init cannot be installed here`
}

/** pm2 (not a dependency of the package) through `npm run bench:peers` when missing: the reason it cannot be had, or undefined. */
export function ensurePm2() {
  if (existsSync(pm2Runtime)) return undefined
  const r = spawnSync(process.execPath, [join(root, 'bench', 'install-peers.mjs')], { stdio: 'ignore' })
  return existsSync(pm2Runtime) ? undefined : `npm run bench:peers failed (status ${r.status}): pm2 cannot be installed here`
}

/** pid's children (from its task's children list). */
export function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** /proc/<pid>/stat's comm and state. */
export function stat(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return { comm: t.slice(t.indexOf('(') + 1, t.lastIndexOf(')')), state: t.slice(t.lastIndexOf(')') + 2)[0] }
  } catch {
    return undefined
  }
}

/** kB fields of /proc/<pid>/status and Pss of smaps_rollup. */
export function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1])
  const pss = Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1])
  return { rssKb: rss, pssKb: pss }
}

export async function until(what, probe, timeoutMs = 10_000) {
  const t0 = Date.now()
  for (;;) {
    const v = probe()
    if (v) return v
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await sleep(2)
  }
}

/**
 * argv under `unshare --pid --fork [--mount-proc]` (ns: false: as it is):
 * { pid1 (seen from here), out(), err(), exit, kill() }, once the app wrote
 * its token (its handlers are set).
 */
export async function start(argv, { ns = true, mountProc = true, waitApp = true } = {}) {
  const full = ns ? ['unshare', '--pid', '--fork', ...(mountProc ? ['--mount-proc'] : []), '--kill-child', ...argv] : argv
  // pm2 keeps its state under PM2_HOME: ours, not ~/.pm2
  const child = spawn(full[0], full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PM2_HOME: join(tmpDir, 'pm2-home-run') } })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (s) => (out += s))
  child.stderr.setEncoding('utf8').on('data', (s) => (err += s))
  let code
  const exit = new Promise((resolve) => child.on('close', (c, s) => resolve((code = c ?? 128 + (s === 'SIGKILL' ? 9 : 15)))))
  const pid1 = ns ? await until('PID 1', () => childrenOf(child.pid)[0] ?? (code !== undefined ? -1 : 0)) : child.pid
  const r = { child, pid1, out: () => out, err: () => err, exit, kill: () => child.kill('SIGKILL') }
  if (waitApp) await until('the app', () => out.includes('token ') || code !== undefined)
  return r
}

/** Every descendant of pid. */
export function descendants(pid) {
  const out = []
  for (const c of childrenOf(pid)) out.push(c, ...descendants(c))
  return out
}

/** The app: the node process under pid1 that printed the token (by comm). */
export function appOf(pid1) {
  return descendants(pid1).find((p) => ['node', 'MainThread'].includes(stat(p)?.comm ?? ''))
}
