// Arguments after `--` and `--env` values reach the daemon as the exact bytes
// given, UTF-8 or not (issue 9): Node hands the CLI U+FFFD for bytes that are
// not UTF-8; the CLI takes them from /proc/self/cmdline and /proc/self/environ.
// A shell makes the bytes (Node cannot spawn with them); the daemon reports
// its own /proc/self/cmdline and environ in hex.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { daemonize } from '../src/index.js'
import { fixtures, root } from './helpers/caller.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { until } from './helpers/wait.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

const bin = join(root, 'bin', 'node-daemonize.js')
const entry = join(fixtures, 'daemon-raw-bytes.js')

// Latin-1 "café", bytes that are never UTF-8, a truncated 4-byte sequence, an
// encoded surrogate, valid UTF-8, an empty argument.
const latin1 = Buffer.from('636166e9', 'hex')
const invalid = Buffer.from('fffe78', 'hex')
const truncated = Buffer.from('f09f98', 'hex')
const surrogate = Buffer.from('eda080', 'hex')
const valid = Buffer.from('h\u00e9llo \u{1f600}', 'utf8')
const envValue = Buffer.from('7680815c6e', 'hex') // v \x80 \x81 \ n

interface Report {
  pid: number
  argv: string[]
  env: Record<string, string>
}

async function report(path: string): Promise<Report> {
  // The daemon writes its report in one write; until it ends with '}' it is not complete.
  const text = await until(`the daemon's report in ${path}`, () => {
    const t = existsSync(path) ? readFileSync(path, 'utf8') : ''
    return t.endsWith('}') ? t : undefined
  })
  const r = JSON.parse(text) as Report
  track(r.pid)
  return r
}

/** printf(1) octal escapes for bytes. */
const octal = (b: Buffer) => [...b].map((x) => `\\${x.toString(8).padStart(3, '0')}`).join('')

describe('non-UTF-8 bytes pass through the CLI verbatim', () => {
  it.each([
    ['with --env NAME=VALUE', false, false],
    ['with --env=NAME=VALUE and --clear-env', true, true],
  ])('%s', async (_name, inline, clearEnv) => {
    const dir = scratchDir('nd-raw-')
    const out = join(dir, 'report.json')
    const args = [latin1, invalid, truncated, surrogate, valid, Buffer.alloc(0)]
    const script = [
      ...args.map((b, i) => `a${i}=$(printf '${octal(b)}')`),
      `ev=$(printf '${octal(envValue)}')`,
      `export ND_RAW_INHERITED="$ev"`,
      `exec "$NODE" "$BIN" start "$ENTRY" --startup-grace 0 --json ${clearEnv ? '--clear-env' : ''} ` +
        (inline ? `--env=ND_RAW_GIVEN="$ev" ` : `--env "ND_RAW_GIVEN=$ev" `) +
        `-- "$OUT" ${args.map((_, i) => `"$a${i}"`).join(' ')}`,
    ].join('\n')
    const r = spawnSync('bash', ['-c', script], {
      env: { ...process.env, NODE: process.execPath, BIN: bin, ENTRY: entry, OUT: out },
      encoding: 'utf8',
      timeout: 30_000,
    })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    track((JSON.parse(r.stdout) as { pid: number }).pid)

    const seen = await report(out)
    expect(seen.argv.slice(-args.length)).toEqual(args.map((b) => b.toString('hex')))
    expect(seen.env.ND_RAW_GIVEN).toBe(envValue.toString('hex'))
    // An inherited variable keeps its bytes too (none is inherited under --clear-env).
    if (clearEnv) expect(seen.env.ND_RAW_INHERITED).toBeUndefined()
    else expect(seen.env.ND_RAW_INHERITED).toBe(envValue.toString('hex'))
  })

  it('the API takes Buffers for args and env values', async () => {
    const dir = scratchDir('nd-raw-api-')
    const out = join(dir, 'report.json')
    const d = await daemonize({ entry, args: [out, latin1, invalid], env: { ND_RAW_GIVEN: envValue }, clearEnv: true })
    track(d.pid)
    const seen = await report(out)
    expect(seen.argv.slice(-2)).toEqual([latin1.toString('hex'), invalid.toString('hex')])
    expect(seen.env.ND_RAW_GIVEN).toBe(envValue.toString('hex'))
  })

  it('the API refuses a NUL byte in a Buffer, at stage options', async () => {
    await expect(daemonize({ entry, args: [Buffer.from([0x61, 0, 0x62])] })).rejects.toMatchObject({ stage: 'options', code: 'ERR_INVALID_ARG_VALUE' })
  })
})
