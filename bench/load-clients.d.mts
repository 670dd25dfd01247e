// Types of load-clients.mjs.
export interface LoadStats {
  ok: number
  failed: number
  /** Keep-alive requests retried once after their reused connection was closed under them. */
  retried: number
  /** The first 20 failures, as "kind: CODE message". */
  errors: string[]
  /** Answers per serving pid, and per version label (the service answers {"pid","version"}). */
  byPid: Map<number, number>
  byVersion: Map<string, number>
}

export interface Load {
  stats: LoadStats
  /** Stop every client and wait for the requests in flight. */
  stop(): Promise<LoadStats>
}

/** retry (default true): a keep-alive client retries a GET once when its reused connection was closed under it. */
export function startLoad(port: number, options: { plain: number; keepAlive: number; path?: string; retry?: boolean }): Load
