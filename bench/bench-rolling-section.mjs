// The `rolling` section of npm run bench (bench.mjs): bench-rolling.mjs's
// rolling restarts of 4 instances and --max-memory replacements under load,
// as rows and checks. bench.mjs hands in its scenario runner and its row()
// and check().

/** Run bench-rolling.mjs and add its rows and checks; returns its result. */
export async function rollingSection({ scenario, row, check, checks }) {
  const r = await scenario('bench-rolling.mjs', ['--rolls', '3', '--replacements', '3'])
  const { rolling: ro, maxMemory: mm } = r
  const sum = (xs, f) => xs.reduce((a, x) => a + f(x), 0)
  const c = ro.clients
  row('rolling.duration', 'instances', `rolling restart of ${ro.instances} instances under load: restart --graceful → verdict`, 'ms', ro.rolls.map((x) => x.durationMs), true)
  row('rolling.served', 'instances', `rolling restart: requests served per roll (${c.plain} per-request + ${c.keepAlive} keep-alive clients)`, 'requests', ro.rolls.map((x) => x.served), true)
  const fp = sum(ro.rolls, (x) => x.failed.plain)
  const fk = sum(ro.rolls, (x) => x.failed.keepAlive)
  check(`rolling restart of ${ro.instances} instances × ${ro.rolls.length}: failed requests, connection per request (${c.plain} clients)`, String(fp), '0', fp === 0)
  check(`rolling restart of ${ro.instances} instances × ${ro.rolls.length}: failed requests, busy keep-alive never retrying (${c.keepAlive} connections)`, String(fk), '0', fk === 0)
  const allNew = ro.rolls.every((x) => x.allNew && x.everyNewServed)
  check('rolling restart: every pid new after each roll, and each answered', allNew ? 'yes' : 'no', 'all', allNew)
  for (const e of ro.total.errors) checks.push({ name: 'rolling restart: a failure', value: e, target: 'none', pass: false })

  const reps = mm.replacements
  const mb = Math.round(mm.limitBytes / 2 ** 20)
  const what = `--max-memory ${mb}M, ${mm.leakMbPerS} MB/s leak`
  row('maxmem.event', 'instances', `${what}: RSS over the limit (50 ms samples) → max-memory event`, 'ms', reps.map((x) => x.crossToEventMs), true)
  row('maxmem.ready', 'instances', `${what}: RSS over the limit → new generation ready (old one gets SIGTERM)`, 'ms', reps.map((x) => x.crossToReadyMs), true)
  const ex = row('maxmem.exit', 'instances', `${what}: RSS over the limit → old pid exited (drained)`, 'ms', reps.map((x) => x.crossToExitMs), true)
  check(`--max-memory: over the limit → replaced (old pid exited), worst of ${reps.length}`, `${(ex.max / 1000).toFixed(2)} s`, '≤ 3 s', ex.max <= 3000)
  check(`--max-memory: failed requests (${mm.clients.plain} per-request clients)`, String(mm.total.failed), '0', mm.total.failed === 0)
  return r
}
