// The checks of test/run-pid1.test.ts and test/run-foreground.test.ts, run
// against `node-daemonize run`, tini and dumb-init (Debian's packages,
// installed here when missing) as PID 1 of a PID namespace, side by side
// (docs/containers.md).
//
//   node bench/run-inits.mjs [--json]
//
// Each check starts its init afresh; a cell is "yes", "no" (with what was
// seen) or "n/a". Needs root (unshare --pid) and the built package.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sleep } from './bench-lib.mjs'
import { appOf, childrenOf, ensureDebianInits, have, inits, memory, ptyRun, runApp, start, stat, until } from './run-lib.mjs'

const names = ['node-daemonize run', 'tini', 'dumb-init']
const why = ensureDebianInits()
if (why !== undefined) console.error(`run-inits: ${why}; comparing node-daemonize run alone`)
const present = names.filter((n) => n === names[0] || have(n))

const yes = (ok, seen) => (ok ? 'yes' : `no (${seen})`)

const checks = {
  /** PID 1 is not node, and how much it keeps resident. */
  async pid1(name) {
    const r = await start(inits[name](runApp, []))
    const s = stat(r.pid1)
    const m = memory(r.pid1)
    r.kill()
    await r.exit
    return `${s.comm !== 'node' ? 'yes' : 'no'} (${s.comm}, VmRSS ${m.rssKb} kB)`
  },
  /** An orphan reparented to PID 1 is reaped within 1 s of its exit. */
  async reaps(name) {
    const r = await start(inits[name](runApp, ['reparent']))
    try {
      // sh exits at once: its `sleep 0.3` becomes PID 1's child
      const orphan = await until('the orphan', () => childrenOf(r.pid1).find((p) => stat(p)?.comm === 'sleep'))
      await until('the orphan to end', () => stat(orphan)?.state !== 'S' && stat(orphan)?.state !== 'R', 5000)
      const t0 = Date.now()
      while (stat(orphan) !== undefined && Date.now() - t0 < 1000) await sleep(2)
      return yes(stat(orphan) === undefined, 'a zombie after 1 s')
    } finally {
      r.kill()
      await r.exit
    }
  },
  /** SIGTERM to PID 1: the app drains, exit 0. */
  async term(name) {
    const r = await start(inits[name](runApp, []))
    process.kill(r.pid1, 'SIGTERM')
    const code = await Promise.race([r.exit, sleep(5000).then(() => 'hung')])
    if (code === 'hung') r.kill()
    return yes(code === 0 && r.out().includes('drained'), `exit ${code}${r.out().includes('drained') ? '' : ', not drained'}`)
  },
  /** The app exits 3: so does PID 1. */
  async exit3(name) {
    const r = await start(inits[name](runApp, ['exit3']))
    const code = await r.exit
    return yes(code === 3, `exit ${code}`)
  },
  /** The app killed with SIGKILL: 137. */
  async killed(name) {
    const r = await start(inits[name](runApp, []))
    const app = appOf(r.pid1)
    process.kill(app, 'SIGKILL')
    const code = await Promise.race([r.exit, sleep(5000).then(() => 'hung')])
    if (code === 'hung') r.kill()
    return yes(code === 137, `exit ${code}`)
  },
  /** HUP, QUIT, WINCH reach the app. */
  async forwards(name) {
    const r = await start(inits[name](runApp, []))
    const missed = []
    for (const sig of ['SIGHUP', 'SIGQUIT', 'SIGWINCH']) {
      process.kill(r.pid1, sig)
      try {
        await until(sig, () => r.out().includes(`got ${sig}`), 2000)
      } catch {
        missed.push(sig)
      }
    }
    r.kill()
    await r.exit
    return yes(missed.length === 0, `${missed.join(', ')} not passed on`)
  },
  /** USR1 is not passed on (Node's inspector). */
  async usr1(name) {
    const r = await start(inits[name](runApp, []))
    process.kill(r.pid1, 'SIGUSR1')
    await sleep(200) // nothing to wait for when it is held back: a later HUP orders it
    process.kill(r.pid1, 'SIGHUP')
    await until('HUP', () => r.out().includes('got SIGHUP'), 2000).catch(() => undefined)
    const passed = r.out().includes('got SIGUSR1')
    r.kill()
    await r.exit
    return yes(!passed, 'passed on')
  },
  /** Ctrl-C on a terminal stops the app once, exit 0. */
  async ctrlC(name) {
    const r = spawnSync('python3', [ptyRun, '--ctrl-c-after', 'foreground ', ...inits[name](runApp, [])], { encoding: 'utf8', timeout: 10_000 })
    const n = r.stdout.split('got SIGINT').length - 1
    const fg = r.stdout.includes('foreground yes')
    return yes(r.status === 0 && n === 1 && fg, `exit ${r.status}, ${n} SIGINT, ${fg ? '' : 'not '}the terminal's foreground`)
  },
  /** Outside a namespace: what the app left is killed when it exits. */
  async leftovers(name) {
    const r = await start(inits[name](runApp, ['orphan']), { ns: false })
    await r.exit
    const orphan = Number(/^orphan (\d+)$/m.exec(r.out())?.[1])
    await sleep(200)
    const alive = stat(orphan) !== undefined && stat(orphan).state !== 'Z'
    if (alive) process.kill(orphan, 'SIGKILL')
    return yes(!alive, 'left running')
  },
  /** Refused in a PID namespace without its own /proc. */
  async noProc(name) {
    const r = await start(inits[name](runApp, []), { mountProc: false, waitApp: false })
    const code = await Promise.race([r.exit, sleep(3000).then(() => 'ran')])
    if (code === 'ran') {
      r.kill()
      await r.exit
    }
    return yes(code === 1 && /mount/.test(r.err()), 'ran the app with the wrong /proc')
  },
  /** --ready-file for a probe. */
  async readyFile(name) {
    if (name !== names[0]) return 'n/a (no readiness)'
    const dir = mkdtempSync(join(tmpdir(), 'nd-inits-'))
    const file = join(dir, 'ready')
    writeFileSync(file, 'stale')
    try {
      const r = await start([process.execPath, inits[name]('', [])[1], 'run', '--wait-ready', '5s', '--ready-file', file, runApp, '--', 'ready'])
      await until('ready', () => existsSync(file) && readFileSync(file, 'utf8') === '')
      process.kill(r.pid1, 'SIGTERM')
      await r.exit
      return yes(!existsSync(file), 'left after stop')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  },
}

const table = {}
for (const name of present) {
  table[name] = {}
  for (const [check, run] of Object.entries(checks)) {
    try {
      table[name][check] = await run(name)
    } catch (err) {
      table[name][check] = `no (${err.message})`
    }
  }
}
if (process.argv.includes('--json')) console.log(JSON.stringify(table))
else {
  console.log(`| check | ${present.join(' | ')} |`)
  console.log(`| --- | ${present.map(() => '---').join(' | ')} |`)
  for (const check of Object.keys(checks)) console.log(`| ${check} | ${present.map((n) => table[n][check]).join(' | ')} |`)
}
