// The daemon's side of systemd's socket passing (sd_listen_fds(3)): fds
// 3..3+N-1, LISTEN_FDS=N, LISTEN_PID naming the process they are for, and
// LISTEN_FDNAMES, colon-separated. Shared by the preload and listenFds():
// the variables are taken out of the environment (they describe this
// process only, so the daemon's children must not see them) and the fds
// marked close-on-exec (so its children do not inherit them either). The
// result is kept on a global symbol, like the NODE_DAEMONIZE_* variables.
// No imports: the caller says how to mark an fd (the preload and
// listenFds() load the addon for it, only when there are fds to mark).

/** systemd's first passed fd (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3

/** Where the preload keeps what it took: Symbol.for(LISTEN_KEY) on globalThis. */
export const LISTEN_KEY = 'node-daemonize.listen'

export interface ListenFd {
  /** The fd, from 3 up: pass it to `server.listen({ fd })`. */
  fd: number
  /** Its name from LISTEN_FDNAMES (`--listen ...,name=NAME`), or 'unknown'. */
  name: string
}

const KEY = Symbol.for(LISTEN_KEY)

/** What was taken already (by the preload or an earlier call), if anything. */
export function keptListenFds(): ListenFd[] | undefined {
  const kept = (globalThis as Record<symbol, unknown>)[KEY]
  return Array.isArray(kept) ? (kept as ListenFd[]) : undefined
}

/**
 * Take LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES out of env, and return
 * the fds they describe when LISTEN_PID is this process ([] otherwise, as
 * sd_listen_fds returns 0), each marked close-on-exec through setCloexec.
 * Kept on the global symbol: a second call returns the same list.
 */
export function takeListenFds(env: NodeJS.ProcessEnv, pid: number, setCloexec: (fd: number) => void): ListenFd[] {
  const kept = keptListenFds()
  if (kept !== undefined) return kept
  const { LISTEN_PID: forPid, LISTEN_FDS: count, LISTEN_FDNAMES: names } = env
  delete env.LISTEN_PID
  delete env.LISTEN_FDS
  delete env.LISTEN_FDNAMES
  const fds: ListenFd[] = []
  if (forPid === String(pid) && count !== undefined && /^[0-9]{1,4}$/.test(count)) {
    const nameList = names === undefined ? [] : names.split(':')
    for (let i = 0; i < Number(count); i++) {
      const fd = LISTEN_FDS_START + i
      setCloexec(fd)
      fds.push({ fd, name: nameList[i] || 'unknown' })
    }
  }
  ;(globalThis as Record<symbol, unknown>)[KEY] = fds
  return fds
}
