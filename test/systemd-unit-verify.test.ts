// `node-daemonize unit`: every generated unit passes systemd-analyze verify
// with no warning, for a matrix of start options with hostile values; each
// value is read back twice (by an independent parser of systemd's syntax,
// and from systemd-analyze's own dump of the unit) and compared with the
// options; the restart delay follows the systemd version.
// The command, refusals, --install and NAME: systemd-unit-command.test.ts;
// running the unit's program: systemd-unit-exec.test.ts.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { preloadPath } from '../src/options/resolve.js'
import { runCli } from './helpers/cli.js'
import { dumped, dumpedArgv, dumpedCommand, dumpSpanMs, execArgv, parseEnvFile, parseUnit, spanMs, specifiers, unitEnvironment, value, values, verify, useUnitTests } from './helpers/systemd-unit.js'
import { CASES } from './helpers/systemd-unit-cases.js'

// Scratch dirs, daemons and receivers cleaned up after each test; systemd-analyze checked once.
const dir = useUnitTests()

describe('unit: verified by systemd-analyze, read back value by value', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const args = c.args(dir())
      for (const a of args.slice(0, 1)) if (!existsSync(a)) writeFileSync(a, 'setInterval(() => {}, 1000)\n')
      // EnvironmentFile= names a path in it: a hostile one too.
      const units = join(dir(), 'unit dir() %i $x')
      mkdirSync(units)
      const r = await runCli(['unit', '--install', '--unit-dir', units, ...args])
      expect(r.err).toBe('')
      expect(r.code).toBe(0)
      const want = c.expect(dir())
      const service = `${want.unitName}.service`
      const socketNames = (want.sockets ?? []).map((s) => s.name)
      const envFile = Object.keys(want.env).length > 0 ? `${want.unitName}.env` : undefined
      expect(readdirSync(units).sort()).toEqual([service, ...socketNames, ...(envFile ? [envFile] : [])].sort())
      // The printed command, as a shell reads it, names every unit.
      const enable = r.out.split('\n').find((l) => l.startsWith('systemctl enable --now '))!
      const shell = spawnSync('bash', ['-c', `printf '%s\\n' ${enable.slice('systemctl enable --now '.length)}`], { encoding: 'utf8' })
      expect(shell.stdout.split('\n').slice(0, -1)).toEqual([...socketNames, service])
      for (const f of [service, ...socketNames]) expect(statSync(join(units, f)).mode & 0o777).toBe(0o644)

      // systemd's verdict: no warning at all about these units.
      const v = verify([service, ...socketNames].map((f) => join(units, f)))
      const ours = v.stderr.split('\n').filter((l) => l.includes(dir()) || [service, ...socketNames].some((n) => l.includes(n)))
      expect(ours).toEqual([])
      expect(v.status).toBe(0)

      const text = readFileSync(join(units, service), 'utf8')
      const unit = parseUnit(text)
      const svc = (k: string) => value(unit, 'Service', k)
      const sd = (k: string) => dumped(v, service, k)

      // The command line, as an independent reading of the file and as systemd read it.
      expect(execArgv(svc('ExecStart')!)).toEqual(want.argv)
      // The dump shows the words before exec-time expansion: "$$" still doubled.
      expect(dumpedArgv(dumpedCommand(v, service, 'ExecStart')).map((w) => w.replaceAll('$$', '$'))).toEqual(want.argv)

      expect(svc('Type')).toBe(want.type)
      expect(sd('Type')).toEqual([want.type])
      expect(specifiers(svc('WorkingDirectory')!)).toBe(want.cwd)
      expect(sd('WorkingDirectory')).toEqual([want.cwd])
      expect(svc('UMask')).toBe(want.umask)
      expect(sd('UMask')).toEqual([want.umask])
      expect(svc('User')).toBe(want.user)
      expect(svc('Group')).toBe(want.group)
      if (want.user !== undefined) expect(sd('User')).toEqual([want.user])
      if (want.group !== undefined) expect(sd('Group')).toEqual([want.group])
      expect(svc('LimitNOFILE')).toBe(want.nofile === undefined ? undefined : String(want.nofile))
      if (want.nofile !== undefined) expect(sd('LimitNOFILE')).toEqual([String(want.nofile)])
      expect(svc('LimitCORE')).toBe(want.core)
      // RLIM_INFINITY, as the dump shows it.
      expect(sd('LimitCORE')).toEqual([want.core === 'infinity' ? '18446744073709551615' : want.core])

      // stdout and stderr.
      if (want.log === undefined) {
        expect([svc('StandardOutput'), svc('StandardError')]).toEqual(['null', 'null'])
        expect(sd('StandardOutput')).toEqual(['null'])
      } else {
        expect(specifiers(svc('StandardOutput')!)).toBe(`append:${want.log}`)
        expect(specifiers(svc('StandardError')!)).toBe(`append:${want.log}`)
        expect(sd('StandardOutputFileToAppend')).toEqual([want.log])
        expect(sd('StandardErrorFileToAppend')).toEqual([want.log])
      }
      expect(unitEnvironment(unit)).toEqual(want.unitEnv)

      // The environment file: 0600, read back exactly; its values appear nowhere in the unit.
      if (envFile) {
        const path = join(units, envFile)
        expect(statSync(path).mode & 0o777).toBe(0o600)
        expect(specifiers(svc('EnvironmentFile')!)).toBe(path)
        expect(sd('EnvironmentFile')[0]).toContain(path)
        expect(parseEnvFile(readFileSync(path, 'utf8'))).toEqual(want.env)
        for (const val of Object.values(want.env)) if (val.length > 3) expect(text).not.toContain(val)
      } else {
        expect(svc('EnvironmentFile')).toBeUndefined()
      }

      // Restart policy.
      expect(svc('Restart')).toBe(want.restart)
      expect(sd('Restart')).toEqual([want.restart])
      if (want.restartSec !== undefined) {
        expect(spanMs(svc('RestartSec')!)).toBe(want.restartSec)
        expect(dumpSpanMs(sd('RestartSec')[0])).toBe(want.restartSec)
      }
      expect(svc('RestartPreventExitStatus')).toBe(want.prevent)
      expect(svc('RestartForceExitStatus')).toBe(want.restart === 'on-failure' ? 'SIGHUP SIGINT SIGTERM SIGPIPE' : undefined)
      if (want.startLimit) {
        expect(Number(value(unit, 'Unit', 'StartLimitBurst'))).toBe(want.startLimit[0])
        expect(spanMs(value(unit, 'Unit', 'StartLimitIntervalSec')!)).toBe(want.startLimit[1])
      } else {
        expect(value(unit, 'Unit', 'StartLimitBurst')).toBeUndefined()
      }
      expect(spanMs(svc('TimeoutStopSec')!)).toBe(want.stopMs)
      expect(dumpSpanMs(sd('TimeoutStopSec')[0])).toBe(want.stopMs)
      if (want.startMs !== undefined) {
        expect(spanMs(svc('TimeoutStartSec')!)).toBe(want.startMs)
        expect(dumpSpanMs(sd('TimeoutStartSec')[0])).toBe(want.startMs)
      }
      expect(svc('ExecReload')).toEqual(want.log !== undefined && want.argv.includes(preloadPath) ? expect.stringMatching(/^\/(usr\/)?bin\/kill -HUP \$MAINPID$/) : undefined)
      for (const n of want.notes) expect(unit.comments.some((l) => n.test(l)), `a comment matching ${n}`).toBe(true)

      // Sockets.
      for (const s of want.sockets ?? []) {
        const su = parseUnit(readFileSync(join(units, s.name), 'utf8'))
        expect(values(su, 'Socket', 'ListenStream').map(specifiers)).toEqual(s.listen)
        expect(dumped(v, s.name, 'ListenStream')).toEqual(s.dumped ?? s.listen)
        expect(specifiers(value(su, 'Socket', 'FileDescriptorName')!)).toBe(s.fdName)
        expect(dumped(v, s.name, 'FileDescriptorName')).toEqual([s.fdName])
        expect(value(su, 'Socket', 'SocketMode')).toBe(s.owner?.[0])
        expect(value(su, 'Socket', 'SocketUser')).toBe(s.owner?.[1])
        if (s.owner) expect(dumped(v, s.name, 'SocketMode')).toEqual([s.owner[0]])
        expect(value(su, 'Socket', 'Service')).toBe(service)
      }
      if (want.sockets) expect(value(unit, 'Unit', 'Requires')).toBe(socketNames.join(' '))
    })
  }
})

describe('unit: the restart delay and the systemd version', () => {
  const respawn = (d: string) => [join(d, 'app.js'), '--pid-file', join(d, 'a.pid'), '--respawn', '--respawn-delay', '100ms', '--respawn-max-delay', '30s']

  it('254 or later: RestartSteps= and RestartMaxDelaySec= reach the cap by doubling', async () => {
    writeFileSync(join(dir(), 'app.js'), '')
    const r = await runCli(['unit', ...respawn(dir()), '--systemd-version', '254'])
    expect(r.code).toBe(0)
    const unit = parseUnit(r.out)
    const steps = Number(value(unit, 'Service', 'RestartSteps'))
    expect(spanMs(value(unit, 'Service', 'RestartMaxDelaySec')!)).toBe(30_000)
    // 100 ms × 2^steps is the first doubling at or past 30 s.
    expect(100 * 2 ** steps).toBeGreaterThanOrEqual(30_000)
    expect(100 * 2 ** (steps - 1)).toBeLessThan(30_000)
  })

  it('252 (Debian 12): both in a comment, said why', async () => {
    writeFileSync(join(dir(), 'app.js'), '')
    const r = await runCli(['unit', ...respawn(dir()), '--systemd-version', '252'])
    expect(r.code).toBe(0)
    const unit = parseUnit(r.out)
    expect(value(unit, 'Service', 'RestartSteps')).toBeUndefined()
    expect(unit.comments).toContain('RestartSteps=9')
    expect(unit.comments.some((l) => /need systemd 254 or later and this is systemd 252/.test(l))).toBe(true)
  })

  it("without --systemd-version: this machine's version, from systemctl --version", async () => {
    writeFileSync(join(dir(), 'app.js'), '')
    const version = Number(/^systemd (\d+)/.exec(spawnSync('systemctl', ['--version'], { encoding: 'utf8' }).stdout)![1])
    const r = await runCli(['unit', ...respawn(dir())])
    expect(r.code).toBe(0)
    const unit = parseUnit(r.out)
    if (version >= 254) expect(value(unit, 'Service', 'RestartSteps')).toBe('9')
    else expect(unit.comments.some((l) => l.includes(`this is systemd ${version}`))).toBe(true)
  })
})
