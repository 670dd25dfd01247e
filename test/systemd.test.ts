// systemd's notify protocol, against a stand-in for its socket (a python3
// receiver that reports each datagram and its sender's pid, taken from
// SCM_CREDENTIALS as systemd takes it). A launcher under systemd announces
// the daemon (MAINPID, READY=1); the daemon never sees NOTIFY_SOCKET; a
// program run directly by systemd gets READY=1 from ready().
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { daemonize, DaemonizeError } from '../src/index.js'
import { fixtures, root } from './helpers/caller.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { cleanUpReceivers, receivedBefore, receiver } from './helpers/notify.js'
import { until } from './helpers/wait.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()
cleanUpReceivers()

let dir: string
const callerSocket = process.env.NOTIFY_SOCKET

beforeEach(() => {
  dir = scratchDir('nd-sd-')
})

afterEach(() => {
  if (callerSocket === undefined) delete process.env.NOTIFY_SOCKET
  else process.env.NOTIFY_SOCKET = callerSocket
})

function environ(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean)
}

/**
 * What the launcher sends: MAINPID and READY=1, then BARRIER=1 with a pipe's
 * write end, so that it learns systemd has read them before it exits
 * (systemd drops a message whose sender is already gone).
 */
const notified = (pid: number) => [
  { msg: `MAINPID=${pid}\nREADY=1\n`, pid: process.pid },
  { msg: 'BARRIER=1', pid: process.pid, fds: 1 },
]

describe('a launcher under systemd (notifySystemd)', () => {
  it('sends MAINPID and READY=1 once the daemon called ready(); the daemon does not get NOTIFY_SOCKET', async () => {
    const r = await receiver(join(dir, 'notify.sock'))
    process.env.NOTIFY_SOCKET = r.name
    const d = await daemonize({
      entry: join(fixtures, 'daemon-delayed-ready.js'),
      args: [join(dir, 'marker'), '300'],
      logFile: join(dir, 'd.log'),
      waitReadyMs: 20_000,
      notifySystemd: true,
    })
    track(d.pid)
    expect(d.ready).toBe(true)
    expect(await receivedBefore(r)).toEqual(notified(d.pid))
    expect(environ(d.pid).filter((v) => v.startsWith('NOTIFY_SOCKET='))).toEqual([])
  })

  it('without a readiness wait, sends them once the daemon exec\'d; abstract socket names work', async () => {
    const r = await receiver(`@nd-test-${process.pid}-${Date.now()}`)
    process.env.NOTIFY_SOCKET = r.name
    const d = await daemonize({ entry: join(fixtures, 'daemon-idle.js'), notifySystemd: true })
    track(d.pid)
    expect(await receivedBefore(r)).toEqual(notified(d.pid))
    // The launch returns at the "exec" record, sent just before execve: until
    // the exec is done, /proc shows the helper's (empty) environment.
    const cmdline = () => readFileSync(`/proc/${d.pid}/cmdline`, 'utf8').split('\0')
    await until(`pid ${d.pid} to have exec'd daemon-idle.js`, () => cmdline().includes(join(fixtures, 'daemon-idle.js')), { seen: cmdline })
    expect(environ(d.pid).filter((v) => v.startsWith('NOTIFY_SOCKET='))).toEqual([])
  })

  it('drops NOTIFY_SOCKET from an env given in the options too', async () => {
    const r = await receiver(join(dir, 'notify.sock'))
    const d = await daemonize({
      entry: join(fixtures, 'daemon-idle.js'),
      env: { PATH: '/usr/bin:/bin', NOTIFY_SOCKET: r.name },
      waitReadyMs: 20_000,
    })
    track(d.pid)
    expect(environ(d.pid).filter((v) => v.startsWith('NOTIFY_SOCKET='))).toEqual([])
    // The launcher was not asked to notify (and the daemon's ready() used its pipe).
    expect(await receivedBefore(r)).toEqual([])
  })

  it('a NOTIFY_SOCKET that names nothing: the launch still returns the running daemon, with a warning', async () => {
    const socket = join(dir, 'absent.sock')
    process.env.NOTIFY_SOCKET = socket
    const warnings: Error[] = []
    const onWarning = (w: Error) => warnings.push(w)
    process.on('warning', onWarning)
    try {
      const d = await daemonize({ entry: join(fixtures, 'daemon-idle.js'), waitReadyMs: 20_000, notifySystemd: true })
      track(d.pid)
      expect(d.ready).toBe(true)
      await until('a process warning', () => warnings.length > 0)
      expect(warnings[0]).toMatchObject({ code: 'NODE_DAEMONIZE_NOTIFY' })
      expect(warnings[0].message).toContain(`cannot notify systemd at ${socket}`)
      expect(warnings[0].message).toContain('ENOENT')
    } finally {
      process.off('warning', onWarning)
    }
  })

  it('sends nothing unless asked', async () => {
    const r = await receiver(join(dir, 'notify.sock'))
    process.env.NOTIFY_SOCKET = r.name
    const d = await daemonize({ entry: join(fixtures, 'daemon-idle.js'), waitReadyMs: 20_000 })
    track(d.pid)
    expect(await receivedBefore(r)).toEqual([])
  })

  it('sends nothing for a daemon that died before it was ready', async () => {
    const r = await receiver(join(dir, 'notify.sock'))
    process.env.NOTIFY_SOCKET = r.name
    const e = await daemonize({
      entry: join(root, 'examples', 'crash-at-startup.js'),
      logFile: join(dir, 'd.log'),
      waitReadyMs: 20_000,
      notifySystemd: true,
    }).catch((err: unknown) => err)
    expect(e).toBeInstanceOf(DaemonizeError)
    expect(e).toMatchObject({ stage: 'ready', code: 'ERR_DAEMON_EXITED' })
    expect(await receivedBefore(r)).toEqual([])
  })
})

describe('ready() in a program run directly by systemd', () => {
  const direct = join(fixtures, 'daemon-direct-ready.js')
  for (const kind of ['path', 'abstract'] as const) {
    it(`sends READY=1 once to $NOTIFY_SOCKET (${kind} name)`, async () => {
      const name = kind === 'path' ? join(dir, 'notify.sock') : `@nd-test-direct-${process.pid}-${Date.now()}`
      const r = await receiver(name)
      const env: NodeJS.ProcessEnv = { ...process.env, NOTIFY_SOCKET: name }
      for (const k of Object.keys(env)) if (k.startsWith('NODE_DAEMONIZE_')) delete env[k]
      // Not spawnSync: the test's own event loop must keep reading the receiver.
      const out = await new Promise<{ status: number | null; stdout: string }>((resolve) => {
        const c = spawn(process.execPath, [direct], { env, stdio: ['ignore', 'pipe', 'inherit'] })
        let stdout = ''
        c.stdout.setEncoding('utf8')
        c.stdout.on('data', (s: string) => (stdout += s))
        c.on('close', (status) => resolve({ status, stdout }))
      })
      expect(out.status).toBe(0)
      const report = JSON.parse(out.stdout) as { pid: number; first: boolean; second: boolean }
      expect(report).toMatchObject({ first: true, second: false })
      expect(await receivedBefore(r)).toEqual([{ msg: 'READY=1\n', pid: report.pid }])
    })
  }

  it('a NOTIFY_SOCKET that names nothing: a warning, not a crash', () => {
    const socket = join(dir, 'absent.sock')
    const env: NodeJS.ProcessEnv = { ...process.env, NOTIFY_SOCKET: socket }
    for (const k of Object.keys(env)) if (k.startsWith('NODE_DAEMONIZE_')) delete env[k]
    const r = spawnSync(process.execPath, [direct], { env, encoding: 'utf8' })
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ first: false, second: false })
    expect(r.stderr).toContain(`cannot notify systemd at ${socket}`)
    expect(r.stderr).toContain('ENOENT')
  })
})
