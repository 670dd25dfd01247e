// `node-daemonize unit`: the command itself; values systemd cannot carry
// are refused; --install never overwrites; unit NAME reads a named daemon's
// saved start spec. The verification matrix: systemd-unit-verify.test.ts.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CONTRACT_VERSION } from '../src/daemon/contract.cjs'
import { preloadPath } from '../src/options/resolve.js'
import { SAFE_PATH } from '../src/options/daemonize-options.js'
import { buildUnits } from '../src/systemd/units.js'
import { fixtures } from './helpers/caller.js'
import { cliBin, runCli } from './helpers/cli.js'
import { startNamed, useNamesRoot } from './helpers/names.js'
import { dumped, dumpedArgv, dumpedCommand, execArgv, parseEnvFile, parseUnit, specifiers, unitEnvironment, value, verify, useUnitTests } from './helpers/systemd-unit.js'

// Scratch dirs, daemons and receivers cleaned up after each test; systemd-analyze checked once.
const dir = useUnitTests()

describe('unit: the command', () => {
  it('--help prints its usage, exit 0', async () => {
    const r = await runCli(['unit', '--help'])
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^Usage: node-daemonize unit NAME/)
    expect(r.out).toContain('--systemd-version N')
    expect(r.out).toContain('--respawn [MODE]')
  })

  it('--respawn needs no --pid-file: systemd supervises', async () => {
    writeFileSync(join(dir(), 'app.js'), '')
    const r = await runCli(['unit', join(dir(), 'app.js'), '--respawn', 'always', '--json'])
    expect(r.code).toBe(0)
    const files = (JSON.parse(r.out) as { files: { text: string }[] }).files
    expect(value(parseUnit(files[0].text), 'Service', 'Restart')).toBe('always')
  })
})

describe('unit: what systemd cannot carry is refused', () => {
  /** printf(1) octal escapes for bytes. */
  const octal = (b: Buffer) => [...b].map((x) => `\\${x.toString(8).padStart(3, '0')}`).join('')

  // A value the unit cannot carry is refused by the options check (stage options): a usage error, exit 2.
  it('a program argument that is not UTF-8 (exit 2, a clear error, nothing printed)', () => {
    writeFileSync(join(dir(), 'app.js'), '')
    const bad = Buffer.from([0x61, 0xe9, 0x62]) // Latin-1 "aéb"
    const r = spawnSync('bash', ['-c', `exec "$NODE" "$BIN" unit "$ENTRY" -- ok "$(printf '${octal(bad)}')"`], {
      env: { ...process.env, NODE: process.execPath, BIN: cliBin, ENTRY: join(dir(), 'app.js') },
      encoding: 'utf8',
      timeout: 30_000,
    })
    expect(r.status).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(
      'node-daemonize unit: argument 2 is not UTF-8 ("a\\xe9b"): systemd reads unit and environment files as UTF-8 and cannot carry it\n' +
        "Try 'node-daemonize unit --help' for more information.\n",
    )
  })

  it('the same through the API, for an argument and an environment value; environment names', () => {
    const entry = join(dir(), 'app.js')
    writeFileSync(entry, '')
    const base = { options: { entry }, unitDir: dir() }
    expect(() => buildUnits({ ...base, options: { entry, args: [Buffer.from([0xff])] } })).toThrow(/argument 1 is not UTF-8 \("\\xff"\)/)
    expect(() => buildUnits({ ...base, options: { entry, env: { V: Buffer.from([0xc3]) } } })).toThrow(/the value of V is not UTF-8/)
    expect(() => buildUnits({ ...base, options: { entry, args: ['\ud800'] } })).toThrow(/lone surrogate/)
    // An environment name systemd does not pass on: refused when given, said in a comment when a saved spec has it.
    expect(() => buildUnits({ ...base, options: { entry, env: { 'A-B': '1' } } })).toThrow(/environment variable name "A-B"/)
    const fromSpec = buildUnits({ ...base, options: { entry, env: { 'BASH_FUNC_f%%': '() { :; }', 'NODE_DAEMONIZE_\nX': '1', OK: '2' } }, spec: { name: 'x', path: '/p' } })
    expect(parseEnvFile(fromSpec.files[1].text)).toEqual({ OK: '2' })
    const comments = parseUnit(fromSpec.files[0].text).comments
    expect(comments).toContain(`the saved spec's "BASH_FUNC_f%%": left out: systemd passes on only names of letters, digits and '_' (not starting with a digit)`)
    expect(comments).toContain('variable "NODE_DAEMONIZE_\\nX": left out, as start leaves it out (set by node-daemonize or by systemd)')
    // An entry whose name ends in a backslash: Description= must not continue onto the next line.
    const tail = join(dir(), 'tail\\')
    writeFileSync(tail, '')
    const described = parseUnit(buildUnits({ options: { entry: tail }, unitDir: dir() }).files[0].text)
    expect(value(described, 'Unit', 'Description')).toBe(`node-daemonize ${JSON.stringify(tail)}`)
    // One line of a unit file is less than 1 MiB for systemd.
    expect(() => buildUnits({ ...base, options: { entry, args: ['x'.repeat(1024 * 1024)] } })).toThrow(/ExecStart= would be \d+ bytes long/)
  })

  it.each([
    ['a newline in the working directory', (d: string) => ['--cwd', join(d, 'a\nb')], /working directory .* holds a control character/],
    ['a log file path ending in a space', (d: string) => ['--log-file', join(d, 'log ')], /log file .* starts or ends with white space/],
    ['an environment name systemd drops', () => ['--env', 'A-B=1'], /environment variable name "A-B"/],
    ['a working directory ending in a backslash', (d: string) => ['--cwd', join(d, 'w\\')], /ends with a backslash, which systemd reads as a line continuation/],
    ['a listen name ending in a backslash', () => ['--listen', 'tcp:8080,name=a\\'], /listen name "a\\\\" ends with a backslash/],
    ['an unknown user', () => ['--user', 'no such user'], /unknown user 'no such user'/, 1],
  ] as [string, (d: string) => string[], RegExp, number?][])('%s', async (_name, extra, message, code = 2) => {
    writeFileSync(join(dir(), 'app.js'), '')
    mkdirSync(join(dir(), 'a\nb'))
    mkdirSync(join(dir(), 'w\\'))
    const r = await runCli(['unit', join(dir(), 'app.js'), ...extra(dir())])
    // A value systemd cannot carry is a usage error (2); an unknown user is a failed lookup (1).
    expect(r.code).toBe(code)
    expect(r.out).toBe('')
    expect(r.err).toMatch(message)
  })
})

describe('unit --install never overwrites', () => {
  const install = (units: string) => runCli(['unit', join(dir(), 'app.js'), '--env', 'S=secret', '--install', '--unit-dir', units])

  it('an existing unit: refused (exit 1, EEXIST), the file unchanged, nothing else written', async () => {
    writeFileSync(join(dir(), 'app.js'), '')
    const units = join(dir(), 'units')
    mkdirSync(units)
    writeFileSync(join(units, 'app.service'), 'mine\n')
    const r = await runCli(['unit', join(dir(), 'app.js'), '--env', 'S=secret', '--install', '--unit-dir', units, '--json'])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, command: 'unit', error: { stage: 'unit', code: 'EEXIST', path: join(units, 'app.service') } })
    expect(readFileSync(join(units, 'app.service'), 'utf8')).toBe('mine\n')
    expect(readdirSync(units)).toEqual(['app.service'])
  })

  it('an existing environment file: the unit written before it is taken back', async () => {
    writeFileSync(join(dir(), 'app.js'), '')
    const units = join(dir(), 'units')
    mkdirSync(units)
    writeFileSync(join(units, 'app.env'), 'KEEP=1\n')
    const r = await install(units)
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/app\.env already exists: not overwritten/)
    expect(readdirSync(units)).toEqual(['app.env'])
    expect(readFileSync(join(units, 'app.env'), 'utf8')).toBe('KEEP=1\n')
  })

  it('a symbolic link planted at the unit path is not followed', async () => {
    writeFileSync(join(dir(), 'app.js'), '')
    const units = join(dir(), 'units')
    mkdirSync(units)
    symlinkSync(join(dir(), 'target'), join(units, 'app.service'))
    const r = await install(units)
    expect(r.code).toBe(1)
    expect(existsSync(join(dir(), 'target'))).toBe(false)
    expect(readdirSync(units)).toEqual(['app.service'])
  })
})

describe('unit NAME: the saved start spec of a named daemon', () => {
  const names = useNamesRoot()

  it('runs the same entry, arguments, environment and default log as the named daemon', async () => {
    const root = names()
    const entry = join(fixtures, 'daemon-idle.js')
    await startNamed(
      ['--name', 'svc', entry, '--clear-env', '--env', 'TOKEN=s3cr%t $x "q"', '--startup-grace', '0', '--umask', '007',
        '--listen', `unix:${join(dir(), 'svc.sock')},name=http`, '--', 'a b', '50%'],
      root.env,
    )
    const units = join(dir(), 'units')
    mkdirSync(units)
    const r = await runCli(['unit', 'svc', '--install', '--unit-dir', units], root.env)
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    expect(readdirSync(units).sort()).toEqual(['svc.env', 'svc.service', 'svc.socket'])
    const v = verify([join(units, 'svc.service'), join(units, 'svc.socket')])
    expect(v.stderr.split('\n').filter((l) => l.includes('svc.s'))).toEqual([])
    expect(v.status).toBe(0)

    const text = readFileSync(join(units, 'svc.service'), 'utf8')
    const unit = parseUnit(text)
    const argv = [process.execPath, '--require', preloadPath, entry, 'a b', '50%']
    expect(execArgv(value(unit, 'Service', 'ExecStart')!)).toEqual(argv)
    expect(dumpedArgv(dumpedCommand(v, 'svc.service', 'ExecStart')).map((w) => w.replaceAll('$$', '$'))).toEqual(argv)
    expect(value(unit, 'Service', 'UMask')).toBe('0007')
    const log = join(root.logs, 'svc.log')
    expect(dumped(v, 'svc.service', 'StandardOutputFileToAppend')).toEqual([log])
    expect(unitEnvironment(unit)).toEqual({ PATH: SAFE_PATH, NODE_DAEMONIZE_LOG_FILE: log, NODE_DAEMONIZE_CONTRACT: CONTRACT_VERSION })
    expect(parseEnvFile(readFileSync(join(units, 'svc.env'), 'utf8'))).toEqual({ TOKEN: 's3cr%t $x "q"' })
    // The spec's --listen: a socket unit with the same name and the unix socket's mode.
    expect(dumped(v, 'svc.socket', 'ListenStream')).toEqual([join(dir(), 'svc.sock')])
    expect(dumped(v, 'svc.socket', 'FileDescriptorName')).toEqual(['http'])
    expect(dumped(v, 'svc.socket', 'SocketMode')).toEqual(['0660'])
    expect(unit.comments[0]).toBe(`svc.service: made by node-daemonize unit from the saved spec ${JSON.stringify(join(root.specs, 'svc.json'))}.`)
    expect(unit.comments.some((l) => l.startsWith('--name svc: node-daemonize stop/status/list/logs by name do not see'))).toBe(true)
  })

  it('start options with --name: the unit is named after it, with start\'s default log', async () => {
    const root = names()
    writeFileSync(join(dir(), 'app.js'), '')
    const r = await runCli(['unit', '--name', 'api', join(dir(), 'app.js'), '--json'], root.env)
    expect(r.code).toBe(0)
    const out = JSON.parse(r.out) as { service: string; files: { text: string }[] }
    expect(out.service).toBe('api.service')
    const unit = parseUnit(out.files[0].text)
    const log = join(root.logs, 'api.log')
    expect(specifiers(value(unit, 'Service', 'StandardOutput')!)).toBe(`append:${log}`)
    expect(unit.comments).toContain(`--name api without --log-file: start's default log, ${JSON.stringify(log)}; its directory must exist (a start --name makes it)`)
    expect(value(unit, 'Unit', 'Description')).toBe('node-daemonize "api"')
  })

  it('a word that names no daemon and no file: the error says so', async () => {
    const root = names()
    const r = await runCli(['unit', 'nosuch'], root.env)
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/^node-daemonize unit: no daemon named nosuch \(no spec /)
  })
})
