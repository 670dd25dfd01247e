// stop()'s first signal (issue 23, fifth pass): the default SIGTERM is
// looked up only when there may be something to signal, so that a stop of a
// service with no pid file loads no node:os; a signal given is still
// checked at once, running or not, and null is the default as before.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { stop } from '../../src/control/stop.js'
import { cleanUpScratchDirs, scratchDir } from '../helpers/scratch.js'

cleanUpScratchDirs()

describe('stop() of a service with no pid file', () => {
  it('is "not running" with the default signal, or null for it', async () => {
    const pidFile = join(scratchDir('nd-stop-signal-'), 'none.pid')
    for (const signal of [undefined, null as unknown as undefined, 'SIGINT' as const, 2]) {
      await expect(stop(pidFile, { signal })).resolves.toMatchObject({ wasRunning: false, message: `not running (no pid file ${pidFile})` })
    }
  })

  it('refuses a signal that is not one, though nothing would be signalled', async () => {
    const pidFile = join(scratchDir('nd-stop-signal-'), 'none.pid')
    await expect(stop(pidFile, { signal: 'SIGBOGUS' as NodeJS.Signals })).rejects.toThrow(/unknown signal 'SIGBOGUS'/)
    await expect(stop(pidFile, { signal: 0 })).rejects.toThrow(/signal must be a signal number from 1 to/)
  })
})
