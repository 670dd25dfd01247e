// Listening sockets (--listen): opened by the launcher as the caller, before
// anything is spawned, and passed as systemd passes them (fds 3..,
// LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES); checked from inside a daemon that
// is not Node, and from /proc for a Node one (the preload's clean-up).
import { chmodSync, closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { daemonize, stop } from '../src/index.js'
import { native, type UserEntry } from '../src/native.js'
import { fixtures } from './helpers/caller.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { failure } from './helpers/expect-failure.js'
import { untilLine } from './helpers/files.js'
import { ask, freePort, get, holdPort } from './helpers/net.js'
import { childrenOf, fdFlags, procFds, procStatus } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

const O_CLOEXEC = 0o2000000
const abiDaemon = join(fixtures, 'daemon-listen-abi.py')
const httpDaemon = join(fixtures, 'daemon-listen-http.mjs')
const nobody = native().lookupUser('nobody') as UserEntry
let dir: string
const held: Server[] = []
beforeEach(() => {
  // Root-owned, traversable by the daemon's user, writable only by root.
  dir = scratchDir('nd-listen-', 0o755)
})
afterEach(async () => {
  await Promise.all(held.splice(0).map((s) => new Promise((r) => s.close(r))))
})

interface AbiAnswer {
  pid: number
  env: { LISTEN_PID: string; LISTEN_FDS: string; LISTEN_FDNAMES: string }
  fds: Record<string, { target: string; cloexec: boolean }>
  served_by: number
  family: string
}

interface Info {
  pid: number
  uid: number
  gid: number
  fds: Record<string, { target: string; cloexec: boolean }>
  env: Record<string, string | undefined>
  sockets: { fd: number; name: string }[]
}

/** The entries directly in dir, but for the listed ones: what a launch left behind. */
function leftIn(d: string, expected: string[]): string[] {
  return readdirSync(d).filter((n) => !expected.includes(n))
}

async function startHttp(listen: string[], more: Parameters<typeof daemonize>[0] | object = {}) {
  const log = join(dir, 'http.log')
  const d = await daemonize({ entry: httpDaemon, logFile: log, waitReadyMs: 15_000, listen, ...more })
  track(d.pid)
  return { d, log }
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
    // And from outside: the same two sockets, not close-on-exec (no preload here).
    const fds = procFds(d.pid)
    expect(fds.get(3)).toBe(a.fds['3'].target)
    expect(fds.get(4)).toBe(a.fds['4'].target)
    expect(fdFlags(d.pid, 3) & O_CLOEXEC).toBe(0)
  })

  it('20 sockets: fds 3..22 in order (their helper slots 9..28 overlap the targets), the lock at 23', async () => {
    const ports: number[] = []
    while (ports.length < 20) {
      const p = await freePort()
      if (!ports.includes(p)) ports.push(p)
    }
    const log = join(dir, 'abi.log')
    const pidFile = join(dir, 'abi.pid')
    const d = await daemonize({
      entry: abiDaemon,
      execPath: '/usr/bin/python3',
      preload: false,
      logFile: log,
      pidFile,
      listen: ports.map((p, i) => `tcp:127.0.0.1:${p},name=s${i}`),
    })
    track(d.pid)
    await untilLine(log, 'serving 20 sockets')
    for (const [i, port] of ports.entries()) {
      const a = JSON.parse(await ask({ port })) as AbiAnswer
      expect(a.served_by).toBe(3 + i)
      if (i === 0) {
        expect(a.env.LISTEN_FDNAMES).toBe(ports.map((_, j) => `s${j}`).join(':'))
        expect(Object.keys(a.fds).map(Number).sort((x, y) => x - y)).toEqual([...Array(24).keys()])
      }
    }
    const fds = procFds(d.pid)
    expect(fds.get(23)).toBe(`${pidFile}.lock`)
    expect([...fds.keys()].filter((fd) => fd >= 3 && fd <= 22).every((fd) => /^socket:/.test(fds.get(fd) as string))).toBe(true)
  })

  it('tcp:PORT is every address, IPv4 and IPv6 (dual-stack)', async () => {
    const port = await freePort()
    const log = join(dir, 'abi.log')
    const d = await daemonize({ entry: abiDaemon, execPath: '/usr/bin/python3', preload: false, logFile: log, listen: [`tcp:${port}`] })
    track(d.pid)
    await untilLine(log, 'serving 1 sockets')
    const v4 = JSON.parse(await ask({ port, host: '127.0.0.1' })) as AbiAnswer
    const v6 = JSON.parse(await ask({ port, host: '::1' })) as AbiAnswer
    expect(v4.family).toBe('AF_INET6')
    expect(v6.served_by).toBe(3)
  })
})

describe('a Node daemon: listenFds(), the preload, the fds above the sockets', () => {
  it('gets its sockets close-on-exec and without LISTEN_*, its children inherit none, lock and ready fds sit above them', async () => {
    const port = await freePort()
    const sock = join(dir, 'api.sock')
    const pidFile = join(dir, 'app.pid')
    const { d } = await startHttp([`tcp:127.0.0.1:${port},name=web`, `unix:${sock},name=api`], { pidFile })
    expect(d.ready).toBe(true) // the ready fd (6 = 3 + 2 sockets + the lock) was where the variable said
    const info = JSON.parse((await get({ port }, '/info')).body) as Info
    expect(info.pid).toBe(d.pid)
    expect(info.sockets).toEqual([
      { fd: 3, name: 'web' },
      { fd: 4, name: 'api' },
    ])
    expect(info.env).toEqual({})
    expect(info.fds['3'].cloexec).toBe(true)
    expect(info.fds['4'].cloexec).toBe(true)
    // From outside: fds 3 and 4 the sockets, 5 the pid file's lock, and the
    // ready pipe (6) gone after ready().
    const fds = procFds(d.pid)
    expect(fds.get(3)).toMatch(/^socket:/)
    expect(fds.get(4)).toMatch(/^socket:/)
    expect(fds.get(5)).toBe(`${pidFile}.lock`)
    expect(fdFlags(d.pid, 3) & O_CLOEXEC).toBe(O_CLOEXEC)
    expect(fdFlags(d.pid, 4) & O_CLOEXEC).toBe(O_CLOEXEC)
    expect(fdFlags(d.pid, 5) & O_CLOEXEC).toBe(O_CLOEXEC) // Node marks the lock fd too
    // The daemon's child: stdio (a pipe each) and its own readdir fd, no socket of its parent's.
    const child = (await get({ path: sock }, '/child')).body
    const childFds = child.split('\n').filter((l) => / -> /.test(l))
    expect(childFds.length).toBeGreaterThan(0)
    expect(childFds.map((l) => l.split(' -> ')[1]).filter((t) => !t.startsWith('/proc/'))).not.toContain(fds.get(3))
    expect(childFds.map((l) => l.split(' -> ')[1])).not.toContain(fds.get(4))
    expect(childFds.some((l) => /\b[3-9] -> socket:/.test(l))).toBe(false)
    expect(child).toContain('PATH=') // the environment is there, LISTEN_* are not
    expect(child).not.toMatch(/^LISTEN_/m)
    // The lock moved with the layout: stop finds and ends the daemon.
    const r = await stop(pidFile)
    expect(r.wasRunning).toBe(true)
    await untilGone(d.pid)
  })

  it('a root launcher binds port < 1024; the daemon serves it as nobody', async () => {
    const port = await freePort(600, 1000)
    const { d } = await startHttp([`tcp:127.0.0.1:${port}`], { user: 'nobody' })
    const info = JSON.parse((await get({ port }, '/info')).body) as Info
    expect(info.pid).toBe(d.pid)
    expect(info.uid).toBe(nobody.uid)
    expect(procStatus(d.pid).Uid.split(/\s+/)).toEqual(Array(4).fill(String(nobody.uid)))
    expect(info.sockets).toEqual([{ fd: 3, name: 'unknown' }])
  })
})

describe('unix sockets', () => {
  it('the socket file belongs to --user with mode 0666 & ~umask, and is served', async () => {
    const a = join(dir, 'a.sock')
    const b = join(dir, 'b.sock')
    const { d } = await startHttp([`unix:${a}`], { user: 'nobody' })
    const st = lstatSync(a)
    expect(st.isSocket()).toBe(true)
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([nobody.uid, nobody.gid, 0o644])
    expect((await get({ path: a }, '/')).body).toBe(`hello from ${d.pid}`)
    // Nothing else left next to it (the private directory it was bound in is gone).
    expect(leftIn(dir, ['a.sock', 'http.log'])).toEqual([])
    const second = await daemonize({ entry: httpDaemon, waitReadyMs: 15_000, listen: [`unix:${b}`], umask: 0o007 })
    track(second.pid)
    const st2 = lstatSync(b)
    expect([st2.uid, st2.gid, st2.mode & 0o7777]).toEqual([0, 0, 0o660])
  })

  it('a stale socket file (nobody listening) is replaced', async () => {
    const path = join(dir, 'stale.sock')
    // Bound and closed: the file stays, nobody listens.
    const dirfd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY)
    closeSync(native().listenUnixAt(dirfd, 'stale.sock', path, -1, -1, 0o600))
    closeSync(dirfd)
    const before = lstatSync(path).ino
    const { d } = await startHttp([`unix:${path}`])
    expect(lstatSync(path).ino).not.toBe(before)
    expect((await get({ path }, '/')).body).toBe(`hello from ${d.pid}`)
  })

  it('a live socket is not taken over: stage listen, EADDRINUSE, nothing started', async () => {
    const path = join(dir, 'live.sock')
    // Our liveness probe connects and leaves at once: the answer may meet a closed peer.
    const live = createServer((c) => c.on('error', () => {}).end('theirs'))
    held.push(live)
    await new Promise<void>((r) => live.listen(path, r))
    const log = join(dir, 'live.log')
    const before = childrenOf(process.pid)
    const e = await failure(daemonize({ entry: httpDaemon, logFile: log, listen: [`unix:${path}`] }))
    expect(e).toMatchObject({ stage: 'listen', code: 'EADDRINUSE', path })
    expect(e.message).toContain(`unix:${path}`)
    expect(await ask({ path })).toBe('theirs')
    expect(existsSync(log)).toBe(false)
    expect(childrenOf(process.pid)).toEqual(before)
    expect(leftIn(dir, ['live.sock'])).toEqual([])
  })

  it('a file that is not a socket is left alone: stage listen, EEXIST', async () => {
    const path = join(dir, 'data')
    writeFileSync(path, 'precious')
    const e = await failure(daemonize({ entry: httpDaemon, listen: [`unix:${path}`] }))
    expect(e).toMatchObject({ stage: 'listen', code: 'EEXIST', path })
    expect(e.message).toContain('not a socket')
    expect(readFileSync(path, 'utf8')).toBe('precious')
    expect(leftIn(dir, ['data'])).toEqual([])
  })

  it('in a directory anyone can write, a symbolic link planted at the path is not followed: EEXIST, its target untouched', async () => {
    const shared = join(dir, 'shared')
    mkdirSync(shared)
    chmodSync(shared, 0o1777)
    const target = join(dir, 'target')
    writeFileSync(target, 'root only')
    chmodSync(target, 0o600)
    const path = join(shared, 'app.sock')
    symlinkSync(target, path)
    const e = await failure(daemonize({ entry: httpDaemon, user: 'nobody', listen: [`unix:${path}`] }))
    expect(e).toMatchObject({ stage: 'listen', code: 'EEXIST', path })
    expect(lstatSync(path).isSymbolicLink()).toBe(true)
    const st = lstatSync(target)
    expect([st.uid, st.mode & 0o7777, readFileSync(target, 'utf8')]).toEqual([0, 0o600, 'root only'])
    expect(leftIn(shared, ['app.sock'])).toEqual([])
  })
})

describe('failures at stage listen start nothing', () => {
  it('a port in use: EADDRINUSE with the address, no log, no pid file, no process, earlier sockets closed', async () => {
    const [free, busy] = [await freePort(), await freePort()]
    held.push(await holdPort(busy, '127.0.0.1'))
    const log = join(dir, 'busy.log')
    const pidFile = join(dir, 'busy.pid')
    const before = childrenOf(process.pid)
    const e = await failure(
      daemonize({ entry: httpDaemon, logFile: log, pidFile, listen: [`tcp:127.0.0.1:${free}`, `tcp:127.0.0.1:${busy}`] }),
    )
    expect(e).toMatchObject({ stage: 'listen', code: 'EADDRINUSE', errno: -98, syscall: 'bind' })
    expect(e.message).toBe(`cannot listen on tcp:127.0.0.1:${busy}: the address is already in use`)
    expect(existsSync(log)).toBe(false)
    expect(existsSync(pidFile)).toBe(false)
    expect(childrenOf(process.pid)).toEqual(before)
    // The first socket was closed again: its port can be held now.
    held.push(await holdPort(free, '127.0.0.1'))
  })

  it('an address no interface has: EADDRNOTAVAIL', async () => {
    const port = await freePort()
    const e = await failure(daemonize({ entry: httpDaemon, listen: [`tcp:192.0.2.1:${port}`] }))
    expect(e).toMatchObject({ stage: 'listen', code: 'EADDRNOTAVAIL', syscall: 'bind' })
    expect(e.message).toBe(`cannot listen on tcp:192.0.2.1:${port}: no local interface has this address`)
  })

  it('a bad spec is refused with the options, before any socket', async () => {
    const e = await failure(daemonize({ entry: httpDaemon, listen: ['tcp:localhost:80'] }))
    expect(e).toMatchObject({ stage: 'options', code: 'ERR_INVALID_ARG_VALUE' })
    expect(e.message).toContain('host names are not resolved')
    const long = await failure(daemonize({ entry: httpDaemon, listen: [`unix:${join(dir, 'x'.repeat(120))}`] }))
    expect(long.message).toContain('longer than 107 bytes')
    const twice = await failure(daemonize({ entry: httpDaemon, listen: [`unix:${join(dir, 's')}`, `unix:${join(dir, 's')}`] }))
    expect(twice.message).toContain('given twice')
    const notArray = await failure(daemonize({ entry: httpDaemon, listen: 'tcp:80' as unknown as string[] }))
    expect(notArray.message).toBe('listen must be an array of strings')
  })
})
