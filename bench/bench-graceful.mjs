// Graceful restart under load (--respawn --wait-ready --listen):
//  - failed requests per graceful restart, with clients busy the whole run
//    (3 opening a connection per request, 3 keep-alive ones that retry an
//    idempotent GET once when a reused connection is closed under them, and
//    3 keep-alive ones that never retry, as autocannon);
//  - each restart's duration (gracefulRestart() called until it resolves)
//    against the new generation's own time from fork to ready(), as the
//    supervisor measured it: what the hand-over adds on top of the start-up.
//
//   node bench/bench-graceful.mjs [--runs 10]
import { mkdirSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { startLoad } from './load-clients.mjs'
import { arg, emit, freePort, loadPackage, log, root, sleep, tmpDir } from './bench-lib.mjs'

const runs = Number(arg('runs', '10'))

async function main() {
  const { daemonize, gracefulRestart, stop } = await loadPackage()
  mkdirSync(tmpDir, { recursive: true })
  const dir = mkdtempSync(join(tmpDir, 'graceful-'))
  const pidFile = join(dir, 'app.pid')
  const port = await freePort()
  await daemonize({
    entry: join(root, 'test', 'fixtures', 'graceful-http.mjs'),
    args: [dir],
    pidFile,
    logFile: join(dir, 'app.log'),
    respawn: true,
    waitReadyMs: 20_000,
    listen: [`tcp:127.0.0.1:${port}`],
  })
  const load = startLoad(port, { plain: 3, keepAlive: 3 })
  const noRetry = startLoad(port, { plain: 0, keepAlive: 3, retry: false })
  const failed = () => load.stats.failed + noRetry.stats.failed
  try {
    await sleep(500)
    const duration = []
    const ready = []
    const failedPerRestart = []
    for (let i = 0; i < runs; i++) {
      const failedBefore = failed()
      const t0 = performance.now()
      const r = await gracefulRestart(pidFile)
      duration.push(performance.now() - t0)
      ready.push(r.readyMs)
      // Let the replaced generation drain under load before the next one.
      await sleep(300)
      failedPerRestart.push(failed() - failedBefore)
    }
    const stats = await load.stop()
    const nr = await noRetry.stop()
    log(`graceful: ${runs} restarts, ${stats.ok + nr.ok} answers, ${stats.failed} failed, ${stats.retried} keep-alive retries; ` +
      `keep-alive clients that never retry: ${nr.failed} failed`)
    for (const e of [...stats.errors, ...nr.errors]) log(`graceful: ${e}`)
    emit({ duration, ready, failedPerRestart, answers: stats.ok + nr.ok, failed: stats.failed + nr.failed, failedNoRetry: nr.failed, retried: stats.retried })
  } finally {
    await load.stop()
    await noRetry.stop()
    await stop(pidFile)
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
