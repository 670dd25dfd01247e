// Scenario: `logs` as root on a log the service user made hostile. Run it on
// its own (as root; it needs nobody, setpriv and python3):
//
//   node bench/bench-logs.mjs [--sparse-gib 1] [--long-mib 32]
//
// A named daemon runs as nobody, its standard directories under a temp
// root (NODE_DAEMONIZE_TEST_ROOT), and nobody writes its log:
// - `logs NAME -n 1` after nobody's `truncate -s +1G` of it (one line of
//   1 GiB of NULs, sparse): wall time, CPU time and peak RSS (bench-run),
//   into a pipe and on a terminal (test/fixtures/pty-run.py), and how many
//   bytes each got;
// - `logs NAME -f` on a terminal: the CPU time it spends on an append of
//   32 MiB without a newline (then the newline and one more line), from
//   /proc/<pid>/stat, and its peak RSS.
// Prints one JSON line.
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { arg, buildFixtures, emit, log, peakRssMb, root, runProgram, sleep } from './bench-lib.mjs'

const sparseGib = Number(arg('sparse-gib', '1'))
const longMib = Number(arg('long-mib', '32'))
const cli = join(root, 'bin', 'node-daemonize.js')
const ptyRun = join(root, 'test', 'fixtures', 'pty-run.py')
const asNobody = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups']
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

buildFixtures()
const top = mkdtempSync(join(tmpdir(), 'nd-bench-logs-'))
chmodSync(top, 0o755)
const env = { ...process.env, NODE_DAEMONIZE_TEST_ROOT: top, TERM: 'xterm', NO_COLOR: '1' }

function run(argv, options = {}) {
  const r = spawnSync(argv[0], argv.slice(1), { env, maxBuffer: 1 << 30, ...options })
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`)
  return r
}

/** bench-run's result line, wherever it went (stderr, or the terminal's output). */
function benchRun(text) {
  const m = /BENCH-RUN (\{.*\})/.exec(text)
  if (!m) throw new Error(`no bench-run result in: ${text.slice(0, 500)}`)
  return JSON.parse(m[1])
}

const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK
}

async function until(what, probe, ms = 60_000) {
  const start = Date.now()
  while (!probe()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

let daemonPid
try {
  const started = JSON.parse(run([process.execPath, cli, 'start', '--json', join(root, 'test', 'fixtures', 'lifecycle-hup.js'), '--name', 'bench', '--user', 'nobody']).stdout)
  daemonPid = started.pid
  const logFile = started.logFile
  run([...asNobody, 'sh', '-c', 'echo "before the follower" >> "$1"', 'sh', logFile])

  // -f on a terminal, started first: it follows from the end of the small log.
  const follower = spawn('python3', ['-u', ptyRun, process.execPath, cli, 'logs', 'bench', '-f', '-n', '1'], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let shown = ''
  follower.stdout.setEncoding('utf8').on('data', (s) => (shown += s))
  await until('the follower', () => shown.includes('before the follower'))
  const followerCli = Number(readFileSync(`/proc/${follower.pid}/task/${follower.pid}/children`, 'utf8').trim().split(' ')[0])
  const cpuBefore = cpuMs(followerCli)
  run([...asNobody, 'sh', '-c', 'cat >> "$1"', 'sh', logFile], { input: Buffer.alloc(longMib * 1024 * 1024, 'A') })
  run([...asNobody, 'sh', '-c', 'printf "B\\nafter\\n" >> "$1"', 'sh', logFile])
  await until('the line after the long one', () => shown.includes('after\r\n'))
  const follow = { appendMib: longMib, cpuMs: cpuMs(followerCli) - cpuBefore, peakRssMb: peakRssMb(followerCli), terminalBytes: Buffer.byteLength(shown) }
  process.kill(followerCli, 'SIGINT')
  await new Promise((resolve) => follower.on('close', resolve))
  log(`logs -f on a terminal, ${longMib} MiB without a newline: ${follow.cpuMs} ms CPU, peak RSS ${follow.peakRssMb.toFixed(1)} MB`)

  // -n 1 after the log became one huge sparse line.
  run([...asNobody, 'truncate', '-s', `+${sparseGib}G`, logFile])
  const piped = run([runProgram, process.execPath, cli, 'logs', 'bench', '-n', '1'])
  const pipedResult = { ...benchRun(piped.stderr.toString()), stdoutBytes: piped.stdout.length }
  const onTty = run(['python3', ptyRun, runProgram, process.execPath, cli, 'logs', 'bench', '-n', '1'])
  const ttyText = onTty.stdout.toString('utf8')
  const ttyResult = { ...benchRun(ttyText), terminalBytes: Buffer.byteLength(ttyText.slice(0, ttyText.indexOf('BENCH-RUN '))) }
  for (const [how, r] of [['into a pipe', pipedResult], ['on a terminal', ttyResult]]) {
    log(`logs -n 1, ${sparseGib} GiB line, ${how}: ${r.ms.toFixed(0)} ms wall, ${r.cpuMs.toFixed(0)} ms CPU, peak RSS ${(r.maxRssKb / 1024).toFixed(1)} MB`)
  }
  emit({ scenario: 'logs', sparseGib, tail: { piped: pipedResult, terminal: ttyResult }, follow })
} finally {
  if (daemonPid !== undefined) spawnSync(process.execPath, [cli, 'stop', 'bench'], { env })
  rmSync(top, { recursive: true, force: true })
}
