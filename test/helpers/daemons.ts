// Every test that starts a daemon registers its pid here; afterEach kills
// them all by pid (through a pidfd, so a recycled pid is never hit) and
// waits until each is gone.
import type { ChildProcess } from 'node:child_process'
import { afterEach } from 'vitest'
import { native } from '../../src/native.js'
import { isAlive, procStat } from './proc.js'
import { until } from './wait.js'

const started = new Set<number>()

/** Remember a daemon for clean-up; returns the pid. */
export function track(pid: number): number {
  started.add(pid)
  return pid
}

/** Wait until pid has exited (a zombie counts as exited: pid 1 may reap it late). */
export async function untilGone(pid: number, timeoutMs = 20_000): Promise<void> {
  await until(`pid ${pid} to exit`, () => !isAlive(pid), { timeoutMs, seen: () => procStat(pid) })
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
  await untilGone(pid)
}

/** Call at the top of a test file. */
export function cleanUpDaemons(): void {
  afterEach(async () => {
    const pids = [...started]
    started.clear()
    await Promise.all(pids.map(killDaemon))
  })
}

/**
 * For a test's own child processes (not daemons): SIGKILL each one still
 * running and wait for its exit; the list is emptied.
 */
export async function killChildren(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.splice(0).map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return
      const gone = new Promise((r) => c.once('exit', r))
      c.kill('SIGKILL')
      await gone
    }),
  )
}
