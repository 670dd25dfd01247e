// Where a daemonize() launch spends its time, measured with kernel
// tracepoints (perf record; low overhead, no ptrace), not estimated.
//
//   node bench/bench-breakdown.mjs [--runs 30] [--heap-mb 0]
//   (root or perf_event_paranoid <= 1; perf: apt-get install linux-perf)
//
// A child process (this script with --child) launches the trivial static
// program with daemonize() `runs` times, marking the start and the end of
// each call with a getppid() syscall (process.ppid), which nothing else in
// it makes. For every launch the phases between these events are computed:
//
//   js        start marker -> memfd_create (options, env, plan; the addon begins)
//   addon     memfd_create -> clone3 (the addon's fd set-up before posix_spawn)
//   spawn     clone3 -> clone3 returns in the caller (vfork: until the helper exec'd)
//   helperUp  helper exec'd -> its main() (first fcntl: static-pie start-up)
//   setsid    main -> setsid (reading the plan)
//   toFork    setsid -> fork (clone) entered
//   fork      fork entered -> the daemon runs (child's clone or fork returns)
//   daemon    daemon runs -> its checklist done (the handoff's sched_yield; else execve entered)
//   handoff   sched_yield -> execve entered (the helper forwards "exec" and exits;
//             the daemon sees it gone: docs/how-it-works.md); 0 with a start-up window
//   exec      execve entered -> exec done (sched_process_exec)
//   helperOut daemon exec'd -> helper exit_group (EOF on the record pipe, forward,
//             exit); 0 after a handoff, where the helper exits first
//   reap      the later of exec done and helper exit_group -> caller's wait4 returns
//   resolve   wait4 returned -> end marker (records decoded, promise settled)
//   total     start marker -> end marker
import { spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { arg, emit, idleEntry, loadPackage, log, rssMb, settle, sleep, stats, tmpDir, trueProgram } from './bench-lib.mjs'

const runs = Number(arg('runs', '30'))
const heapMb = Number(arg('heap-mb', '0'))

const EVENTS = [
  'syscalls:sys_enter_getppid',
  'syscalls:sys_enter_memfd_create',
  'syscalls:sys_enter_clone3',
  'syscalls:sys_exit_clone3',
  'syscalls:sys_enter_clone',
  'syscalls:sys_exit_clone',
  'syscalls:sys_enter_execve',
  'sched:sched_process_exec',
  'syscalls:sys_enter_fcntl',
  'syscalls:sys_enter_setsid',
  'syscalls:sys_enter_exit_group',
  'syscalls:sys_exit_wait4',
  'syscalls:sys_enter_sched_yield',
  // musl's fork() is the fork syscall where the architecture has one
  // (x86-64; arm64 has none, and perf refuses an unknown tracepoint); glibc's is clone.
  ...(process.arch === 'x64' ? ['syscalls:sys_enter_fork', 'syscalls:sys_exit_fork'] : []),
]

async function child() {
  const pkg = await loadPackage()
  // The same shape as the launch benchmark's big caller: small objects
  // and arrays of numbers.
  const keep = []
  let step = 0
  while (heapMb > 0 && rssMb() < heapMb) {
    if (step++ % 4 === 3) {
      for (let k = 0; k < 16; k++) keep.push(new Array(131072).fill(k + 0.5))
    } else {
      const objects = new Array(250_000)
      let prev = null
      for (let i = 0; i < objects.length; i++) prev = objects[i] = { id: i, name: `o${i & 1023}`, next: prev }
      keep.push(objects)
    }
  }
  if (typeof globalThis.gc === 'function') globalThis.gc()
  await settle()
  for (let i = 0; i < runs + 3; i++) {
    void process.ppid
    await pkg.daemonize({ entry: idleEntry, execPath: trueProgram, preload: false })
    void process.ppid
    await sleep(25)
  }
  emit({ kept: keep.length })
}

function parse(text) {
  const events = []
  for (const line of text.split('\n')) {
    const m = /^\s*(.+?)\s+(\d+)\s+([\d.]+):\s+(\S+):\s?(.*)$/.exec(line)
    if (m) events.push({ comm: m[1], pid: Number(m[2]), t: Number(m[3]) * 1000, ev: m[4].replace(/^(syscalls|sched):/, ''), args: m[5] })
  }
  return events
}

/** Cut the event stream into launches and measure each one's phases. */
function phases(events, callerPid) {
  const out = []
  let cur = null
  for (const e of events) {
    if (e.pid === callerPid && e.ev === 'sys_enter_getppid') {
      if (cur === null) cur = { start: e.t, e: [] }
      else {
        cur.end = e.t
        out.push(cur)
        cur = null
      }
      continue
    }
    if (cur) cur.e.push(e)
  }
  const rows = []
  for (const l of out) {
    const find = (pred) => l.e.find(pred)
    const memfd = find((e) => e.pid === callerPid && e.ev === 'sys_enter_memfd_create')
    const c3 = find((e) => e.pid === callerPid && e.ev === 'sys_enter_clone3')
    const c3ret = find((e) => e.pid === callerPid && e.ev === 'sys_exit_clone3')
    const hExec = find((e) => e.ev === 'sched_process_exec' && /node-daemonize-helper/.test(e.args))
    if (!memfd || !c3 || !c3ret || !hExec) continue
    const helper = hExec.pid
    const main = find((e) => e.pid === helper && e.ev === 'sys_enter_fcntl' && e.t > hExec.t)
    const setsid = find((e) => e.pid === helper && e.ev === 'sys_enter_setsid')
    const fork = find((e) => e.pid === helper && (e.ev === 'sys_enter_clone' || e.ev === 'sys_enter_fork'))
    const forkChild = find((e) => e.pid !== helper && e.pid !== callerPid && (e.ev === 'sys_exit_clone' || e.ev === 'sys_exit_fork') && e.args.trim() === '0x0')
    if (!main || !setsid || !fork || !forkChild) continue
    const daemon = forkChild.pid
    const dExecve = find((e) => e.pid === daemon && e.ev === 'sys_enter_execve')
    const dExec = find((e) => e.pid === daemon && e.ev === 'sched_process_exec')
    const hExit = find((e) => e.pid === helper && e.ev === 'sys_enter_exit_group')
    const wait = find((e) => e.pid === callerPid && e.ev === 'sys_exit_wait4')
    if (!dExecve || !dExec || !hExit || !wait) continue
    const yielded = find((e) => e.pid === daemon && e.ev === 'sys_enter_sched_yield')
    const handoff = yielded !== undefined && hExit.t < dExecve.t
    rows.push({
      js: memfd.t - l.start,
      addon: c3.t - memfd.t,
      spawn: c3ret.t - c3.t,
      helperUp: main.t - hExec.t,
      setsid: setsid.t - main.t,
      toFork: fork.t - setsid.t,
      fork: forkChild.t - fork.t,
      daemon: (handoff ? yielded.t : dExecve.t) - forkChild.t,
      handoff: handoff ? dExecve.t - yielded.t : 0,
      exec: dExec.t - dExecve.t,
      helperOut: handoff ? 0 : hExit.t - dExec.t,
      reap: wait.t - Math.max(hExit.t, dExec.t),
      resolve: l.end - wait.t,
      total: l.end - l.start,
    })
  }
  return rows.slice(3)
}

async function main() {
  if (process.argv.includes('--child')) return child()
  mkdirSync(tmpDir, { recursive: true })
  const data = join(tmpDir, 'breakdown.perf.data')
  const self = fileURLToPath(import.meta.url)
  const nodeArgs = heapMb > 0 ? ['--max-old-space-size=6144', '--expose-gc'] : []
  const rec = spawnSync(
    'perf',
    ['record', '-q', '-o', data, '-e', EVENTS.join(','), '--', process.execPath, ...nodeArgs, self, '--child', '--runs', String(runs), '--heap-mb', String(heapMb)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  )
  if (rec.status !== 0) throw new Error(`perf record failed (${rec.status ?? rec.error}); is perf installed and allowed?`)
  const script = spawnSync('perf', ['script', '-i', data, '-F', 'comm,pid,time,event,trace'], { encoding: 'utf8', maxBuffer: 1 << 28 })
  const events = parse(script.stdout)
  const callerPid = events.find((e) => e.ev === 'sys_enter_getppid')?.pid
  const rows = phases(events, callerPid)
  if (rows.length === 0) throw new Error('no complete launch found in the trace')
  const keys = Object.keys(rows[0])
  const summary = Object.fromEntries(keys.map((k) => [k, stats(rows.map((r) => r[k]))]))
  log(`breakdown of ${rows.length} launches (heap ${heapMb} MB), ms:`)
  log(`${'phase'.padEnd(10)} ${'median'.padStart(7)} ${'min'.padStart(7)} ${'max'.padStart(7)}`)
  for (const k of keys) {
    const s = summary[k]
    log(`${k.padEnd(10)} ${s.median.toFixed(3).padStart(7)} ${s.min.toFixed(3).padStart(7)} ${s.max.toFixed(3).padStart(7)}`)
  }
  emit({ heapMb, runs: rows.length, summary })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
