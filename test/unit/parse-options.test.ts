// The CLI's option parser (src/cli/parse-options.ts) against util.parseArgs
// in strict mode, which it replaces to spare every command ~0.7 ms of
// start-up (issue 23): the same values, positionals and option tokens, and
// the same errors (said as parseCommandLine said parseArgs' errors before),
// over every option set the commands use and thousands of argument lists
// made from the shapes that matter (groups, inline values, greedy values,
// values that look like options, unknown options, a lone '-').
import { parseArgs } from 'node:util'
import { describe, expect, it } from 'vitest'
import { parseOptions, type OptionSpecs } from '../../src/cli/parse-options.js'
import { pidFileCommandOptions } from '../../src/cli/args.js'
import { startOptions } from '../../src/cli/start.js'

/** parseArgs' messages, shortened to one line: what the CLI printed before it had its own parser. */
function cleanParseArgsMessage(msg: string): string {
  let m = /^Unknown option '([^']*)'/.exec(msg)
  if (m) return `unknown option '${m[1]}' (arguments for the program go after '--')`
  const option = /^Option '(?:-[^-], )?(-[^' ]+)[^']*' /
  m = new RegExp(option.source + 'argument missing').exec(msg)
  if (m) return `option '${m[1]}' needs a value`
  m = new RegExp(option.source + 'argument is ambiguous').exec(msg)
  if (m) return `option '${m[1]}' needs a value; to give one that starts with '-', write ${m[1]}=-VALUE`
  m = new RegExp(option.source + 'does not take an argument').exec(msg)
  if (m) return `option '${m[1]}' does not take a value`
  return msg.split('\n')[0]
}

function reference(args: string[], options: OptionSpecs): unknown {
  try {
    const { values, positionals, tokens } = parseArgs({ args, options, strict: true, allowPositionals: true, tokens: true })
    const found = tokens.flatMap((t) => (t.kind === 'option' ? [{ name: t.name, rawName: t.rawName, index: t.index, value: t.value, inlineValue: t.inlineValue === true }] : []))
    return { values: { ...values }, positionals, options: found }
  } catch (err) {
    return { error: cleanParseArgsMessage((err as Error).message) }
  }
}

function ours(args: string[], options: OptionSpecs): unknown {
  try {
    const { values, positionals, options: found } = parseOptions(args, options)
    return { values: { ...values }, positionals, options: found }
  } catch (err) {
    return { error: (err as Error).message }
  }
}

const SETS: Record<string, OptionSpecs> = {
  status: { 'pid-file': { type: 'string' }, json: { type: 'boolean' } },
  stop: { ...pidFileCommandOptions, timeout: { type: 'string' } },
  logs: { lines: { type: 'string', short: 'n' }, follow: { type: 'boolean', short: 'f' }, json: { type: 'boolean' } },
  start: startOptions as OptionSpecs,
}

const PIECES = [
  'name', 'x', '-', '5', '-5', '--', '---', '--json', '--json=1', '--json=', '--pid-file', '--pid-file=', '--pid-file=/p',
  '--pid-file=-x', '-q', '-qf', '-fq', '-f', '-n', '-n5', '-n-5', '-nq', '-fn5', '-fnq', '-qx', '-x', '-xq', '--lines',
  '--lines=3', '--follow=no', '--unknown', '--unknown=1', '--=x', '--__proto__', '-h', '--env', 'A=B', '--env=A=B',
  '--listen', '8080', '--respawn', '--no-respawn-exit', '0', '--name', '--quiet', '--timeout', '2s', '-é', '--quiet=',
]

describe('issue 23: the CLI parses options as util.parseArgs does, without loading it', () => {
  for (const [set, options] of Object.entries(SETS)) {
    it(`${set}: every list of up to 3 pieces, and 3000 longer ones, give what parseArgs gives`, () => {
      const lists: string[][] = [[]]
      for (const a of PIECES) {
        lists.push([a])
        for (const b of PIECES) {
          lists.push([a, b])
          for (const c of ['name', '-5', '--json', '-n', '--pid-file', '-q']) lists.push([a, b, c])
        }
      }
      let seed = 23
      const rand = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2147483648
        return seed % n
      }
      for (let i = 0; i < 3000; i++) lists.push(Array.from({ length: 4 + rand(5) }, () => PIECES[rand(PIECES.length)]))
      let errors = 0
      for (const args of lists.filter((l) => !l.includes('--'))) {
        const want = reference(args, options)
        expect(ours(args, options), JSON.stringify(args)).toEqual(want)
        if ('error' in (want as object)) errors++
      }
      // both kinds of outcome were compared, not only one
      expect(errors).toBeGreaterThan(100)
      expect(lists.length - errors).toBeGreaterThan(100)
    })
  }

  it('values have no prototype: an option named like an Object method is not found through it', () => {
    const { values } = parseOptions(['--json'], SETS.status)
    expect(Object.getPrototypeOf(values)).toBe(null)
    const specs: OptionSpecs = { toString: { type: 'boolean' as const } }
    expect(parseOptions(['--toString'], specs).values.toString).toBe(true)
    expect(parseOptions([], specs).values.toString).toBe(undefined)
  })
})
