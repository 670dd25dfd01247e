// Runs the test suite N times and counts, per test, how often it failed.
//
//   npm run test:soak -- 10                 the whole suite, 10 times
//   npm run test:soak -- 5 test/cli.test.ts  extra arguments go to vitest
//
// The tests are type-checked once (as `npm test` does), then `vitest run`
// runs N times, each with the json reporter writing to a file of its own.
// A run is clean when vitest exits 0 and reports no failed test. A failure
// that belongs to no single test (a file that failed to load, a hook, an
// unhandled error) is counted under the file's name, or under "(run)".
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const [nArg, ...extra] = process.argv.slice(2)
const runs = Number(nArg ?? 1)
if (!Number.isInteger(runs) || runs < 1) {
  console.error('usage: npm run test:soak -- N [vitest arguments]')
  process.exit(2)
}

const bin = (name) => join(root, 'node_modules', '.bin', name)
const tsc = spawnSync(bin('tsc'), ['-p', 'tsconfig.test.json'], { cwd: root, stdio: 'inherit' })
if (tsc.status !== 0) {
  console.error('type-check failed: not soaking')
  process.exit(1)
}

const out = mkdtempSync(join(tmpdir(), 'nd-soak-'))
/** test name -> { count, runs: [run numbers], first: first failure message } */
const failures = new Map()
const note = (name, run, message) => {
  const f = failures.get(name) ?? { count: 0, runs: [], first: message }
  f.count++
  f.runs.push(run)
  failures.set(name, f)
}
let clean = 0
let tests = 0
const started = Date.now()

for (let run = 1; run <= runs; run++) {
  const json = join(out, `run-${run}.json`)
  const t0 = Date.now()
  const r = spawnSync(bin('vitest'), ['run', '--reporter=dot', '--reporter=json', `--outputFile.json=${json}`, ...extra], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  const secs = ((Date.now() - t0) / 1000).toFixed(1)
  let failed = 0
  if (!existsSync(json)) {
    note('(run)', run, `vitest exited ${r.status ?? r.signal} and wrote no report:\n${r.stderr.slice(-2000)}`)
    failed++
  } else {
    const report = JSON.parse(readFileSync(json, 'utf8'))
    tests = report.numTotalTests
    for (const file of report.testResults) {
      const name = relative(root, file.name)
      let inFile = 0
      for (const a of file.assertionResults) {
        if (a.status === 'failed') {
          note(`${name} > ${a.fullName}`, run, a.failureMessages.join('\n'))
          inFile++
        }
      }
      if (file.status === 'failed' && inFile === 0) {
        note(`${name} (file)`, run, file.message)
        inFile++
      }
      failed += inFile
    }
    if (r.status !== 0 && failed === 0) {
      note('(run)', run, `vitest exited ${r.status ?? r.signal} with no failed test:\n${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`)
      failed++
    }
  }
  if (failed === 0) clean++
  console.log(`run ${run}/${runs}: ${failed === 0 ? 'clean' : `${failed} failed`} (${secs} s, load ${loadAvg()})`)
}

const total = ((Date.now() - started) / 1000).toFixed(0)
console.log('')
if (failures.size === 0) {
  console.log(`no test failed.`)
} else {
  const rows = [...failures].sort((a, b) => b[1].count - a[1].count)
  console.log('failures  test')
  for (const [name, f] of rows) console.log(`${String(f.count).padStart(8)}  ${name}  (run ${f.runs.join(', ')})`)
  console.log('')
  console.log('first failure of each:')
  for (const [name, f] of rows) {
    console.log(`--- ${name}`)
    console.log(firstLines(f.first, 12))
  }
}
console.log('')
console.log(`runs: ${runs}, clean runs: ${clean}/${runs}, tests per run: ${tests}, ${total} s in all; reports in ${out}`)
process.exit(clean === runs ? 0 : 1)

function loadAvg() {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  } catch {
    return '?'
  }
}

function firstLines(text, n) {
  const lines = String(text ?? '').split('\n')
  return lines.slice(0, n).join('\n') + (lines.length > n ? '\n  …' : '')
}
