// `start --listen` and `--listen-inherited` from the command line: bad specs
// are usage errors that name the spec; a launcher that systemd itself
// socket-activated (systemd-socket-activate, the same ABI) hands its socket
// on, name included, and the connection that woke it is served by the daemon.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fixtures } from './helpers/caller.js'
import { cliBin, runCli } from './helpers/cli.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { startNamed, useNamesRoot } from './helpers/names.js'
import { resolvedSpecOptions } from '../src/names/spec.js'
import { untilLine } from './helpers/files.js'
import { ask, freePort, get } from './helpers/net.js'
import { until } from './helpers/wait.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()
const namesRoot = useNamesRoot()

const httpDaemon = join(fixtures, 'daemon-listen-http.mjs')
let dir: string
beforeEach(() => {
  dir = scratchDir('nd-listen-cli-')
})
let activator: ChildProcess | undefined
afterEach(() => {
  // A launcher still waiting for its connection (the test failed first) is ours to end.
  if (activator !== undefined && activator.exitCode === null && activator.signalCode === null) activator.kill('SIGKILL')
  activator = undefined
})

describe('start --listen: bad specs are usage errors', () => {
  it.each([
    ['tcp:99999', 'the port must be a number from 1 to 65535, got 99999'],
    ['tcp:localhost:80', '"localhost" is not an IP address (host names are not resolved: give the address)'],
    ['udp:53', 'expected tcp:PORT, tcp:HOST:PORT, tcp:[IPV6]:PORT or unix:PATH, optionally with ",name=NAME"'],
    ['tcp:80,name=a:b', "the name may hold printable ASCII only, without space, ':' or ','"],
    ['unix:', 'the socket path is empty'],
  ])('%s', async (spec, why) => {
    const r = await runCli(['start', httpDaemon, '--listen', spec])
    expect(r.code).toBe(2)
    expect(r.out).toBe('')
    expect(r.err.split('\n')[0]).toContain(`node-daemonize start: --listen ${JSON.stringify(spec)}: ${why}`)
  })

  it('--listen-inherited without sockets of its own: a clear error (a usage error: stage options), nothing started', async () => {
    const env = { ...process.env, LISTEN_PID: '1', LISTEN_FDS: '1' }
    const r = await runCli(['start', httpDaemon, '--listen-inherited', '--json'], env)
    expect(r.code).toBe(2)
    const res = JSON.parse(r.out) as { ok: boolean; error: { stage: string; message: string } }
    expect(res.ok).toBe(false)
    expect(res.error.stage).toBe('options')
    expect(res.error.message).toMatch(/^listenInherited \(--listen-inherited\): LISTEN_PID is 1, not this process \(\d+\)/)
  })

  it('a caller that is not root cannot bind a privileged port: EACCES, said as such', () => {
    const unprivilegedFrom = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'))
    expect(unprivilegedFrom).toBeGreaterThan(1) // a kernel that lets anyone bind every port has nothing to refuse
    const port = unprivilegedFrom - 1
    const r = spawnSync(
      'setpriv',
      ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, cliBin, 'start', httpDaemon, '--listen', `tcp:127.0.0.1:${port}`, '--json'],
      { encoding: 'utf8', timeout: 20_000 },
    )
    expect(r.status, r.stderr).toBe(1)
    const res = JSON.parse(r.stdout) as { error: Record<string, unknown> }
    expect(res.error).toMatchObject({ stage: 'listen', code: 'EACCES', syscall: 'bind' })
    expect(res.error.message).toBe(`cannot listen on tcp:127.0.0.1:${port}: a privileged port (below net.ipv4.ip_unprivileged_port_start, 1024 by default) needs root or CAP_NET_BIND_SERVICE`)
  })

  it('--help describes --listen and --listen-inherited', async () => {
    const r = await runCli(['start', '--help'])
    expect(r.code).toBe(0)
    expect(r.out).toContain('--listen SPEC')
    expect(r.out).toContain('--listen-inherited')
  })
})

describe('start --listen with a program that is not Node', () => {
  it('a Python entry through --exec-path reads LISTEN_* and serves fd 3', async () => {
    const port = await freePort()
    const log = join(dir, 'abi.log')
    const r = await runCli([
      'start', join(fixtures, 'daemon-listen-abi.py'), '--exec-path', '/usr/bin/python3', '--no-preload',
      '--listen', `tcp:127.0.0.1:${port},name=api`, '--log-file', log, '--json',
    ])
    expect(r.code, r.err).toBe(0)
    const pid = track((JSON.parse(r.out) as { pid: number }).pid)
    await untilLine(log, 'serving 1 sockets')
    const a = JSON.parse(await ask({ port })) as { pid: number; env: object; served_by: number }
    expect(a).toMatchObject({ pid, served_by: 3, env: { LISTEN_PID: String(pid), LISTEN_FDS: '1', LISTEN_FDNAMES: 'api' } })
  })
})

describe('a named daemon keeps its sockets in its saved spec', () => {
  it('the spec holds --listen (a unix path absolute) and --listen-inherited, never LISTEN_*', () => {
    const o = resolvedSpecOptions({
      entry: httpDaemon,
      listen: ['unix:rel/app.sock,name=api', 'tcp:[::1]:8080'],
      listenInherited: true,
      env: { A: '1', LISTEN_PID: '1', LISTEN_FDS: '1', LISTEN_FDNAMES: 'x' },
    })
    expect(o.listen).toEqual([`unix:${join(process.cwd(), 'rel/app.sock')},name=api`, 'tcp:[::1]:8080'])
    // Kept: a restart outside socket activation fails and says why, rather than start without them.
    expect(o.listenInherited).toBe(true)
    expect(o.env).toEqual({ A: '1' })
  })

  it('restart NAME opens the same sockets again', async () => {
    const names = namesRoot()
    const port = await freePort()
    const sock = join(dir, 'api.sock')
    const { result } = await startNamed(
      ['--name', 'web', httpDaemon, '--listen', `tcp:127.0.0.1:${port},name=web`, '--listen', `unix:${sock},name=api`, '--wait-ready', '15s'],
      names.env,
    )
    const first = result.pid as number
    expect((await get({ port }, '/')).body).toBe(`hello from ${first}`)
    const res = await runCli(['restart', 'web', '--json'], names.env)
    expect(res.code, res.err).toBe(0)
    const second = track((JSON.parse(res.out) as { pid: number }).pid)
    expect(second).not.toBe(first)
    await untilGone(first)
    expect((await get({ port }, '/')).body).toBe(`hello from ${second}`)
    const info = JSON.parse((await get({ path: sock }, '/info')).body) as { sockets: object[] }
    expect(info.sockets).toEqual([
      { fd: 3, name: 'web' },
      { fd: 4, name: 'api' },
    ])
  })
})

describe('--listen-inherited: a socket-activated launcher hands its sockets on', () => {
  it('the daemon gets the activation socket first (its name too), then its own --listen ones', async () => {
    const [outer, extra] = [await freePort(), await freePort()]
    const log = join(dir, 'app.log')
    // systemd-socket-activate binds, waits for a connection, then execs the
    // launcher with LISTEN_PID = its own pid and the socket at fd 3.
    const child = spawn(
      'systemd-socket-activate',
      ['-l', `127.0.0.1:${outer}`, '--fdname=outer', '-E', 'PATH', process.execPath, cliBin, 'start', httpDaemon,
        '--listen-inherited', '--listen', `tcp:127.0.0.1:${extra},name=extra`, '--wait-ready', '15s', '--log-file', log, '--json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    activator = child
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s))
    const closed = new Promise<number | null>((r) => child.on('close', r))
    await until('systemd-socket-activate to listen', () => err.includes(`Listening on 127.0.0.1:${outer}`), { seen: () => err })
    // The first connection wakes it; it waits in the backlog until the daemon serves it.
    const info = JSON.parse((await get({ port: outer }, '/info')).body) as { pid: number; sockets: { fd: number; name: string }[]; env: object }
    track(info.pid)
    expect(await closed).toBe(0)
    const result = JSON.parse(out.split('\n').find((l) => l.startsWith('{')) as string) as { pid: number; ready: boolean }
    expect(result.pid).toBe(info.pid)
    expect(result.ready).toBe(true)
    expect(info.sockets).toEqual([
      { fd: 3, name: 'outer' },
      { fd: 4, name: 'extra' },
    ])
    expect(info.env).toEqual({})
    expect((await get({ port: extra }, '/')).body).toBe(`hello from ${info.pid}`)
  })
})
