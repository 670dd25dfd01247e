// What stop() takes and gives (stop.ts, stop-found.ts).

export interface StopOptions {
  /** The first signal (default SIGTERM). */
  signal?: NodeJS.Signals | number
  /** How long to wait for the daemon to exit before SIGKILL (default 10000). */
  timeoutMs?: number
}

export interface StopResult {
  wasRunning: boolean
  pid?: number
  /** The first signal sent (SIGKILL may follow: see escalated). */
  signal?: NodeJS.Signals
  /** True when the daemon outlived timeoutMs and was sent SIGKILL. */
  escalated: boolean
  /** With respawn: the daemon the supervisor was running when it was stopped (pid is the supervisor's). */
  daemonPid?: number
  /** With --instances: every instance that ran when it was stopped (index and pid). */
  instances?: { index: number; pid: number }[]
  message: string
}

export const DEFAULT_STOP_TIMEOUT_MS = 10_000
