// Listening sockets (--listen): opened by the launcher, passed as systemd
// passes them (fds 3.., LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES), proven from
// inside a daemon that is not Node.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { daemonize } from '../src/index.js'
import { fixtures } from './helpers/caller.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { ask, freePort } from './helpers/net.js'
import { procFds } from './helpers/proc.js'
import { untilLine } from './helpers/files.js'

cleanUpDaemons()

const abiDaemon = join(fixtures, 'daemon-listen-abi.py')
let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nd-listen-'))
})

interface AbiAnswer {
  pid: number
  env: { LISTEN_PID: string; LISTEN_FDS: string; LISTEN_FDNAMES: string }
  fds: Record<string, { target: string; cloexec: boolean }>
  served_by: number
  family: string
}

describe('systemd socket-passing ABI', () => {
  it('a Python daemon finds its sockets at fds 3.. with LISTEN_FDS, its own LISTEN_PID and the names', async () => {
    const [p1, p2] = [await freePort(), await freePort()]
    const log = join(dir, 'abi.log')
    const d = await daemonize({
      entry: abiDaemon,
      execPath: '/usr/bin/python3',
      preload: false,
      logFile: log,
      listen: [`tcp:127.0.0.1:${p1},name=web`, `tcp:[::1]:${p2}`],
    })
    track(d.pid)
    await untilLine(log, 'serving 2 sockets')
    const a = JSON.parse(await ask({ port: p1 })) as AbiAnswer
    expect(a.pid).toBe(d.pid)
    expect(a.env).toEqual({ LISTEN_PID: String(d.pid), LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:unknown' })
    expect(a.served_by).toBe(3)
    expect(a.family).toBe('AF_INET')
    const b = JSON.parse(await ask({ port: p2, host: '::1' })) as AbiAnswer
    expect(b.served_by).toBe(4)
    expect(b.family).toBe('AF_INET6')
    // At exec: stdio, the two sockets, nothing else; the sockets inheritable.
    expect(Object.keys(a.fds).map(Number).sort()).toEqual([0, 1, 2, 3, 4])
    expect(a.fds['3']).toEqual({ target: expect.stringMatching(/^socket:\[\d+\]$/), cloexec: false })
    expect(a.fds['4']).toEqual({ target: expect.stringMatching(/^socket:\[\d+\]$/), cloexec: false })
    // And from outside, the same two sockets.
    const fds = procFds(d.pid)
    expect(fds.get(3)).toBe(a.fds['3'].target)
    expect(fds.get(4)).toBe(a.fds['4'].target)
  })
})
