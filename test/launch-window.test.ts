// The start-up window as seen from outside: what a failed window leaves
// behind (nothing), and a helper that dies during it.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { daemonize, DaemonizeError } from '../src/index.js'
import { execShim, fixtures } from './helpers/caller.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { untilLine } from './helpers/files.js'
import { procStat, zombieChildren } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

let dir: string
beforeEach(() => {
  dir = scratchDir('nd-window-')
})

/** Our child running the helper executable (comm is cut at 15 characters). */
function helperChild(): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const st = procStat(Number(name))
      if (st.ppid === process.pid && st.comm.startsWith('node-daemonize')) return st.pid
    } catch {
      // gone
    }
  }
  return undefined
}

describe('the start-up window', () => {
  it('kills what a daemon started before it died in the window', async () => {
    const workerFile = join(dir, 'worker.pid')
    let error: DaemonizeError | undefined
    try {
      await daemonize({
        entry: join(fixtures, 'daemon-forks-then-dies.cjs'),
        args: [workerFile],
        logFile: join(dir, 'd.log'),
        waitReadyMs: 20_000,
      })
    } catch (err) {
      error = err as DaemonizeError
    }
    expect(error).toMatchObject({ stage: 'ready', code: 'ERR_DAEMON_EXITED', exitCode: 3 })
    expect(error!.logTail).toContain('daemon-forks-then-dies: giving up')
    const worker = Number(readFileSync(workerFile, 'utf8'))
    track(worker)
    expect(worker).toBeGreaterThan(0)
    // the helper, as subreaper, inherited the orphaned worker and killed it
    await untilGone(worker)
    expect(zombieChildren()).toEqual([])
  })

  it('fails the launch, and kills the daemon, when the helper is killed during the window', async () => {
    const log = join(dir, 'shim.log')
    const launch = daemonize({ entry: join(fixtures, 'daemon-reporter.mjs'), execPath: execShim, preload: false, logFile: log, waitReadyMs: 30_000 })
    // wait until the daemon has exec'd (the shim's line), then kill the helper
    const daemonPid = JSON.parse(await untilLine(log, '"shim":true')).pid
    track(daemonPid)
    const helper = helperChild()
    expect(helper).toBeDefined()
    process.kill(helper!, 'SIGKILL')
    const error = await launch.then(
      () => undefined,
      (err: DaemonizeError) => err,
    )
    expect(error).toMatchObject({ stage: 'helper', code: 'ERR_HELPER_DIED', signal: 'SIGKILL', pid: daemonPid })
    await untilGone(daemonPid)
  })
})
