// The daemon side's reading of systemd's variables (src/daemon/listen-fds.cts),
// as the preload and listenFds() use it: the variables leave the environment
// whatever they say, the fds are returned (and handed to setCloexec) only
// when LISTEN_PID is this process, and the result is kept for later calls.
import { afterEach, describe, expect, it } from 'vitest'
import { LISTEN_KEY, takeListenFds } from '../../src/daemon/listen-fds.cjs'

const KEY = Symbol.for(LISTEN_KEY)
afterEach(() => {
  delete (globalThis as Record<symbol, unknown>)[KEY]
})

function take(env: NodeJS.ProcessEnv, pid = 4242) {
  const marked: number[] = []
  const fds = takeListenFds(env, pid, (fd) => marked.push(fd))
  return { fds, marked, env }
}

describe('takeListenFds', () => {
  it('returns fds 3.. with their names, marks each one, and empties the variables', () => {
    const r = take({ LISTEN_PID: '4242', LISTEN_FDS: '3', LISTEN_FDNAMES: 'web::admin', OTHER: 'x' })
    expect(r.fds).toEqual([
      { fd: 3, name: 'web' },
      { fd: 4, name: 'unknown' },
      { fd: 5, name: 'admin' },
    ])
    expect(r.marked).toEqual([3, 4, 5])
    expect(r.env).toEqual({ OTHER: 'x' })
  })

  it('without names every fd is "unknown"', () => {
    expect(take({ LISTEN_PID: '4242', LISTEN_FDS: '2' }).fds.map((f) => f.name)).toEqual(['unknown', 'unknown'])
  })

  it.each<[NodeJS.ProcessEnv, string]>([
    [{ LISTEN_PID: '4243', LISTEN_FDS: '2' }, 'another process'],
    [{ LISTEN_PID: '4242', LISTEN_FDS: 'two' }, 'a count that is not a number'],
    [{ LISTEN_PID: '4242' }, 'no count'],
    [{ LISTEN_FDS: '1', LISTEN_FDNAMES: 'x' }, 'no pid'],
  ])('%j (%s): no fds, nothing marked, the variables gone all the same', (given, _why) => {
    const r = take({ ...given })
    expect(r.fds).toEqual([])
    expect(r.marked).toEqual([])
    expect(r.env).toEqual({})
  })

  it('a second call returns what the first took (the preload, then listenFds())', () => {
    const first = take({ LISTEN_PID: '4242', LISTEN_FDS: '1', LISTEN_FDNAMES: 'web' })
    const second = take({})
    expect(second.fds).toEqual(first.fds)
    expect(second.marked).toEqual([])
  })
})
