// `node-daemonize unit` with --instances N (docs/systemd.md, "Instances"):
// a NAME@.service template with NODE_DAEMONIZE_INSTANCE=%i and, with
// --listen, Sockets=NAME.socket (one shared socket, its fds passed to every
// instance); systemd-analyze verify reads it; the template's program, run
// as systemd runs instance i (the socket as fd 3, LISTEN_PID its own pid),
// serves on that one socket with instance() = i.
import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { native } from '../src/native.js'
import { usableCpus } from '../src/proc/cpu-limit.js'
import { fixtures } from './helpers/caller.js'
import { runCli } from './helpers/cli.js'
import { killChildren } from './helpers/daemons.js'
import { freePort } from './helpers/net.js'
import { dumped, execArgv, parseEnvFile, parseUnit, type Unit, unitEnvironment, useUnitTests, value, values, verify } from './helpers/systemd-unit.js'

const dir = useUnitTests()
const children: ChildProcess[] = []
afterEach(() => killChildren(children))

const app = join(fixtures, 'instances-serve.mjs')

/** The template as systemd loads instance i: the %i specifier expanded ("%%" stays for the parser's own expansion). */
function instantiate(text: string, i: number): Unit {
  return parseUnit(text.replace(/%(.)/gs, (m, c: string) => (c === 'i' ? String(i) : m)))
}

/** One GET / on a fresh connection: the answer's instance and pid. */
function ask(port: number): Promise<{ instance: number; pid: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (s: string) => (body += s))
      res.on('end', () => resolve(JSON.parse(body) as { instance: number; pid: number }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('unit --instances N: a NAME@.service template on one shared socket', () => {
  it('3 instances with --listen: the template, the socket unit, the enable commands; systemd-analyze verify reads them', async () => {
    const units = join(dir(), 'units')
    mkdirSync(units)
    const r = await runCli(['unit', app, '--name', 'web', '--respawn', '--instances', '3', '--listen', 'tcp:127.0.0.1:8080', '--wait-ready', '10s', '--env', 'X=1', '--unit-dir', units, '--install', '--json'])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    const out = JSON.parse(r.out) as { service: string; instances: string[]; sockets: string[]; commands: string[] }
    expect(out.service).toBe('web@.service')
    expect(out.instances).toEqual(['web@0.service', 'web@1.service', 'web@2.service'])
    expect(out.sockets).toEqual(['web.socket'])
    expect(out.commands).toEqual(['systemctl daemon-reload', 'systemctl enable --now web.socket web@0.service web@1.service web@2.service'])
    expect(readdirSync(units).sort()).toEqual(['web.env', 'web.socket', 'web@.service'])

    const text = readFileSync(join(units, 'web@.service'), 'utf8')
    const unit = parseUnit(text)
    expect(value(unit, 'Service', 'Sockets')).toBe('web.socket')
    // The contract's version is on the log file's line already (--name: start's default log).
    expect(values(unit, 'Service', 'Environment')).toContain('NODE_DAEMONIZE_INSTANCE=%i')
    expect(unitEnvironment(instantiate(text, 2))).toMatchObject({ NODE_DAEMONIZE_INSTANCE: '2', NODE_DAEMONIZE_CONTRACT: '1' })
    expect(value(unit, 'Unit', 'Requires')).toBe('web.socket')
    expect(unit.comments.some((l) => l.startsWith('--instances 3: a template;') && l.includes('systemctl enable --now web@{0..2}.service'))).toBe(true)
    // The socket activates instance 0 (Service= cannot name a template); every instance names the socket.
    expect(value(parseUnit(readFileSync(join(units, 'web.socket'), 'utf8')), 'Socket', 'Service')).toBe('web@0.service')

    const v = verify([join(units, 'web@.service'), join(units, 'web.socket')])
    expect(v.stderr.split('\n').filter((l) => l.includes('web'))).toEqual([])
    expect(v.status).toBe(0)
    // systemd-analyze instantiates the template (as web@i.service): %i expanded, the socket its trigger.
    expect(dumped(v, 'web@i.service', 'Environment')).toContain('NODE_DAEMONIZE_INSTANCE=i')
    expect(dumped(v, 'web@i.service', 'TriggeredBy')).toEqual(['web.socket (origin-file)'])
  })

  it("the template's program, run as systemd runs instances 0..2 on one socket unit's fd: each serves it with its index", async () => {
    const r = await runCli(['unit', app, '--respawn', '--instances', '3', '--listen', 'tcp:127.0.0.1:8080', '--env', 'X=1', '--unit-dir', dir(), '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.out) as { service: string; files: { path: string; text: string }[] }
    const template = out.files.find((f) => f.path.endsWith('@.service'))?.text as string
    const envFile = parseEnvFile(out.files.find((f) => f.path.endsWith('.env'))?.text as string)
    // systemd binds the socket once (the socket unit) and passes the same fd to every instance.
    const port = await freePort()
    const fd = native().listenTcp('127.0.0.1', port)
    try {
      const pids: number[] = []
      for (const i of [0, 1, 2]) {
        const unit = instantiate(template, i)
        const argv = execArgv(value(unit, 'Service', 'ExecStart') as string)
        const env = { PATH: process.env.PATH, ...unitEnvironment(unit), ...envFile, LISTEN_FDS: '1', LISTEN_FDNAMES: 'unknown' }
        // LISTEN_PID is the pid systemd forks and execs: the shell's own, kept across its exec.
        const c = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ exec "$@"', 'sh', ...argv], { env, stdio: ['ignore', 'ignore', 'inherit', fd] })
        children.push(c)
        pids.push(c.pid as number)
      }
      const seen = new Map<number, number>()
      for (let sent = 0; seen.size < 3; sent++) {
        if (sent > 4000) throw new Error(`only instances ${[...seen.keys()]} answered`)
        const a = await ask(port).catch(() => undefined)
        if (a !== undefined) seen.set(a.instance, a.pid)
      }
      expect([0, 1, 2].map((i) => seen.get(i))).toEqual(pids)
    } finally {
      closeSync(fd)
    }
  })

  it('without --listen: N identical workers, a template without Sockets=; --instances max is counted here and said so', async () => {
    const r = await runCli(['unit', app, '--name', 'w', '--respawn', '--instances', 'max', '--unit-dir', dir(), '--install', '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.out) as { service: string; instances: string[]; sockets: string[]; files: { text: string }[] }
    const n = usableCpus(64)
    expect(out.instances).toEqual([...Array(n).keys()].map((i) => `w@${i}.service`))
    expect(out.sockets).toEqual([])
    const unit = parseUnit(out.files[0].text)
    expect(value(unit, 'Service', 'Sockets')).toBeUndefined()
    expect(unit.comments.some((l) => l.startsWith(`--instances max (${n}: the CPUs the machine that made this unit may use`))).toBe(true)
    const v = verify([join(dir(), 'w@.service')])
    expect(v.stderr.split('\n').filter((l) => l.includes('w@'))).toEqual([])
    expect(v.status).toBe(0)
    expect(dumped(v, 'w@i.service', 'Environment')).toEqual(expect.arrayContaining(['NODE_DAEMONIZE_INSTANCE=i', 'NODE_DAEMONIZE_CONTRACT=1']))
  })

  it('--instances without --respawn: refused as start refuses it (exit 2, says why)', async () => {
    const r = await runCli(['unit', app, '--instances', '2', '--unit-dir', dir()])
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/instances needs respawn/)
    expect(r.err).toContain('Try')
  })
})

describe('unit --instances N: the template\'s name', () => {
  it.each([['api'], ['api.service'], ['api@'], ['api@.service']])('--unit-name %s names the template api@.service', async (name) => {
    const r = await runCli(['unit', app, '--respawn', '--instances', '2', '--unit-name', name, '--unit-dir', dir(), '--json'])
    expect(r.code, r.err).toBe(0)
    const out = JSON.parse(r.out) as { service: string; instances: string[] }
    expect(out).toMatchObject({ service: 'api@.service', instances: ['api@0.service', 'api@1.service'] })
  })

  it('without --instances a unit name with @ is refused, as before (exit 2)', async () => {
    const r = await runCli(['unit', app, '--unit-name', 'api@', '--unit-dir', dir()])
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/unit name "api@": systemd takes letters/)
  })
})
