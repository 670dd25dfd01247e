// `start --listen` and `--listen-inherited` from the command line: bad specs
// are usage errors that name the spec; a launcher that systemd itself
// socket-activated (systemd-socket-activate, the same ABI) hands its socket
// on, name included, and the connection that woke it is served by the daemon.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fixtures } from './helpers/caller.js'
import { cliBin, runCli } from './helpers/cli.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { untilLine } from './helpers/files.js'
import { ask, freePort, get } from './helpers/net.js'
import { until } from './helpers/wait.js'

cleanUpDaemons()

const httpDaemon = join(fixtures, 'daemon-listen-http.mjs')
let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nd-listen-cli-'))
})
let activator: ChildProcess | undefined
afterEach(() => {
  // A launcher still waiting for its connection (the test failed first) is ours to end.
  if (activator !== undefined && activator.exitCode === null && activator.signalCode === null) activator.kill('SIGKILL')
  activator = undefined
  rmSync(dir, { recursive: true, force: true })
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

  it('--listen-inherited without sockets of its own: a clear error, nothing started', async () => {
    const env = { ...process.env, LISTEN_PID: '1', LISTEN_FDS: '1' }
    const r = await runCli(['start', httpDaemon, '--listen-inherited', '--json'], env)
    expect(r.code).toBe(1)
    const res = JSON.parse(r.out) as { ok: boolean; error: { stage: string; message: string } }
    expect(res.ok).toBe(false)
    expect(res.error.stage).toBe('options')
    expect(res.error.message).toMatch(/^listenInherited \(--listen-inherited\): LISTEN_PID is 1, not this process \(\d+\)/)
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
