// Every test that starts a daemon registers its pid here; afterEach kills
// them all by pid (through a pidfd, so a recycled pid is never hit) and
// waits until each is gone.
import { afterEach } from 'vitest'
import { native } from '../../src/native.js'
import { isAlive } from './proc.js'

const started = new Set<number>()

/** Remember a daemon for clean-up; returns the pid. */
export function track(pid: number): number {
  started.add(pid)
  return pid
}

export async function waitFor(cond: () => boolean, timeoutMs = 10_000, stepMs = 10): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, stepMs))
  }
}

export async function killDaemon(pid: number): Promise<void> {
  let pidfd: number
  try {
    pidfd = native().pidfdOpen(pid)
  } catch {
    return // already gone
  }
  try {
    native().pidfdSendSignal(pidfd, 9)
  } catch {
    // exited meanwhile
  } finally {
    const { closeSync } = await import('node:fs')
    closeSync(pidfd)
  }
  await waitFor(() => !isAlive(pid), 5_000)
}

/** Call at the top of a test file. */
export function cleanUpDaemons(): void {
  afterEach(async () => {
    const pids = [...started]
    started.clear()
    await Promise.all(pids.map(killDaemon))
  })
}
