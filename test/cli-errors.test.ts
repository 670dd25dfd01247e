// Every command fails the same way: `node-daemonize <command>: <message>` on
// stderr, and with --json one JSON shape on stdout:
// { ok: false, command, error: { message, stage, code, errno?, syscall?, path?, pid?, ... } }.
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root } from './helpers/caller.js'
import { scratchDirForFile } from './helpers/scratch.js'

const bin = join(root, 'bin', 'node-daemonize.js')
const dir = scratchDirForFile('nd-cli-errors-')

const missing = join(dir, 'missing.js')
const aDirectory = join(dir, 'a-directory')
mkdirSync(aDirectory)
const noPidFile = join(dir, 'none.pid')
const longSocket = join(dir, 's'.repeat(120))
const anEntry = join(dir, 'app.js')
writeFileSync(anEntry, '')

const OPTIONAL = ['errno', 'syscall', 'path', 'pid', 'exitCode', 'signal', 'logTail']

function run(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 20_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

// [what, argv (without --json), command in the output, exit code, expected error fields]
const cases: [string, string[], string | null, number, Record<string, unknown>][] = [
  ['start: a missing entry', ['start', missing], 'start', 1, { stage: 'entry', code: 'ENOENT', syscall: 'stat', path: missing }],
  ['start: a bad option', ['start', missing, '--umask', '999'], 'start', 2, { stage: 'options', code: 'ERR_USAGE' }],
  // Hardening round 2, defect 10: what the options check refuses is a usage error too, with its own code and path.
  ['start: a unix: path over 107 bytes', ['start', anEntry, '--listen', `unix:${longSocket}`], 'start', 2, { stage: 'options', code: 'ERR_INVALID_ARG_VALUE', path: longSocket }],
  ['start: a duration under 1 ms', ['start', missing, '--startup-grace', '0.5ms'], 'start', 2, { stage: 'options', code: 'ERR_USAGE' }],
  ['stop: a pid file that is a directory', ['stop', '--pid-file', aDirectory], 'stop', 1, { stage: 'stop', code: 'EISDIR', path: aDirectory }],
  ['stop: a bad signal', ['stop', '--pid-file', noPidFile, '--signal', 'NOPE'], 'stop', 2, { stage: 'options', code: 'ERR_USAGE' }],
  ['status: no --pid-file', ['status'], 'status', 2, { stage: 'options', code: 'ERR_USAGE' }],
  ['restart: a missing entry', ['restart', missing, '--pid-file', noPidFile], 'restart', 1, { stage: 'entry', code: 'ENOENT', path: missing }],
  ['reload: no daemon', ['reload', '--pid-file', noPidFile], 'reload', 1, { stage: 'reload', code: 'ESRCH', path: noPidFile }],
  ['an unknown command', ['frobnicate'], null, 2, { stage: 'options', code: 'ERR_USAGE' }],
  ['help for an unknown command', ['help', 'frobnicate'], null, 2, { stage: 'options', code: 'ERR_USAGE' }],
]

describe.each(cases)('%s', (_what, args, command, exitCode, fields) => {
  const prefix = command === null ? 'node-daemonize: ' : `node-daemonize ${command}: `

  it('stderr: one line, node-daemonize <command>: <message> (a usage error adds where help is)', () => {
    const r = run(args)
    expect(r.code).toBe(exitCode)
    expect(r.out).toBe('')
    const lines = r.err.split('\n')
    expect(lines.pop()).toBe('')
    expect(lines[0].startsWith(prefix)).toBe(true)
    expect(lines[0].length).toBeGreaterThan(prefix.length)
    if (exitCode === 2) expect(lines.slice(1)).toEqual([`Try '${prefix.slice(0, -2)} --help' for more information.`])
    else expect(lines).toHaveLength(1)
  })

  it('--json: the one error shape on stdout, its message the one on stderr', () => {
    const r = run([...args, '--json'])
    expect(r.code).toBe(exitCode)
    const result = JSON.parse(r.out) as { ok: unknown; command: unknown; error: Record<string, unknown> }
    expect(Object.keys(result).sort()).toEqual(['command', 'error', 'ok'])
    expect(result.ok).toBe(false)
    expect(result.command).toBe(command)
    expect(result.error).toMatchObject(fields)
    expect(typeof result.error.message).toBe('string')
    for (const key of Object.keys(result.error)) expect(['message', 'stage', 'code', ...OPTIONAL]).toContain(key)
    expect(r.err.split('\n')[0]).toBe(prefix + (result.error.message as string))
  })
})
