// `node-daemonize unit`: the generated unit's program, run as systemd runs
// it: ready() notifies systemd (READY=1 from the main process) and
// ExecReload= reopens the log.
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, openSync, readFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fixtures } from './helpers/caller.js'
import { runCli } from './helpers/cli.js'
import { untilLine } from './helpers/files.js'
import { receivedBefore, receiver } from './helpers/notify.js'
import { execArgv, parseEnvFile, parseUnit, specifiers, unitEnvironment, value, words, useUnitTests } from './helpers/systemd-unit.js'

// Scratch dirs, daemons and receivers cleaned up after each test; systemd-analyze checked once.
const dir = useUnitTests()

describe('unit: ready() under the unit notifies systemd', () => {
  it("the unit's ExecStart= and environment, run with NOTIFY_SOCKET, send READY=1 from the main process", async () => {
    const entry = join(fixtures, 'daemon-direct-ready.js')
    const r = await runCli(['unit', entry, '--wait-ready', '5s', '--log-file', join(dir(), 'd.log'), '--env', 'X=1', '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.out) as { files: { path: string; text: string }[] }
    const unit = parseUnit(out.files[0].text)
    expect(value(unit, 'Service', 'Type')).toBe('notify')
    const argv = execArgv(value(unit, 'Service', 'ExecStart')!)
    const sock = await receiver(join(dir(), 'notify.sock'))
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...unitEnvironment(unit), ...parseEnvFile(out.files[1].text), NOTIFY_SOCKET: sock.name }
    const run = await new Promise<{ status: number | null; stdout: string }>((resolve) => {
      const c = spawn(argv[0], argv.slice(1), { env, cwd: value(unit, 'Service', 'WorkingDirectory'), stdio: ['ignore', 'pipe', 'inherit'] })
      let stdout = ''
      c.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
      c.on('close', (status) => resolve({ status, stdout }))
    })
    expect(run.status).toBe(0)
    const report = JSON.parse(run.stdout) as { pid: number; first: boolean; second: boolean }
    expect(report).toMatchObject({ first: true, second: false })
    expect(await receivedBefore(sock)).toEqual([{ msg: 'READY=1\n', pid: report.pid }])
  })
})

describe('unit: ExecReload= reopens the log', () => {
  it("the unit's program, its output appended as systemd does, reopens a renamed log when ExecReload= runs", async () => {
    const log = join(dir(), 'app log %.log')
    const r = await runCli(['unit', join(fixtures, 'lifecycle-hup.js'), '--log-file', log, '--json'])
    expect(r.code).toBe(0)
    const unit = parseUnit((JSON.parse(r.out) as { files: { text: string }[] }).files[0].text)
    const argv = execArgv(value(unit, 'Service', 'ExecStart')!)
    // StandardOutput=append:/StandardError=append: — the same file, opened for appending.
    const out = openSync(log, 'a')
    const child = spawn(argv[0], argv.slice(1), { env: { PATH: process.env.PATH, ...unitEnvironment(unit) }, stdio: ['ignore', out, out] })
    closeSync(out)
    const closed = new Promise((resolve) => child.on('close', resolve))
    try {
      await untilLine(log, `pid ${child.pid}: up`)
      renameSync(log, `${log}.1`)
      // ExecReload= as systemd runs it: $MAINPID is the main process.
      const reload = words(specifiers(value(unit, 'Service', 'ExecReload')!)).map((w) => (w === '$MAINPID' ? String(child.pid) : w))
      expect(spawnSync(reload[0], reload.slice(1)).status).toBe(0)
      await untilLine(log, `pid ${child.pid}: got SIGHUP 1`)
      expect(readFileSync(`${log}.1`, 'utf8')).not.toContain('got SIGHUP')
    } finally {
      child.kill('SIGKILL')
      await closed
    }
  })
})
