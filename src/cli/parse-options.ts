// The command line's options, parsed as util.parseArgs parses them in strict
// mode with positionals allowed: the same tokens (greedy values for string
// options, `-abc` groups, `-n20`, `--name=value`), the same checks in the
// same order, the same values. Our own because loading node:util's parser
// (two internal modules and their validators) is ~0.7 ms of a command's
// start-up, a tenth of what a command may add to `node -e 0` (issue 23).
// The errors are said the CLI's way at once (the text parseCommandLine
// used to derive from parseArgs' messages); test/unit/parse-options.test.ts
// holds the two parsers to the same results over every option set the
// commands use.

/** An option as util.parseArgs takes it (no defaults: no command uses one). */
export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
}

export type OptionSpecs = Record<string, OptionSpec>

export interface OptionToken {
  name: string
  /** As written: `--name` or `-n`. */
  rawName: string
  /** Index into the arguments of the argument it came from. */
  index: number
  value: string | undefined
  /** The value was part of the same argument (`--name=value`, `-nVALUE`). */
  inlineValue: boolean
}

export interface ParsedOptions {
  values: Record<string, string | boolean | (string | boolean)[]>
  positionals: string[]
  options: OptionToken[]
}

/** A bad command line: the message as the CLI prints it. */
export class OptionError extends Error {}

function own(specs: OptionSpecs, name: string): OptionSpec | undefined {
  return Object.hasOwn(specs, name) ? specs[name] : undefined
}

function longForShort(short: string, specs: OptionSpecs): string {
  for (const name of Object.keys(specs)) if (specs[name].short === short) return name
  return short
}

function typeOf(specs: OptionSpecs, name: string): string | undefined {
  return own(specs, name)?.type
}

/** util.parseArgs' tokens for args that hold no `--` (the caller splits there). */
function tokenize(args: string[], specs: OptionSpecs): ({ kind: 'positional'; value: string } | ({ kind: 'option' } & OptionToken))[] {
  const tokens: ({ kind: 'positional'; value: string } | ({ kind: 'option' } & OptionToken))[] = []
  const remaining = args.slice()
  let index = -1
  let groupCount = 0
  while (remaining.length > 0) {
    const arg = remaining.shift() as string
    const next = remaining[0]
    if (groupCount > 0) groupCount--
    else index++
    // -x
    if (arg.length === 2 && arg[0] === '-' && arg[1] !== '-') {
      const name = longForShort(arg[1], specs)
      let value: string | undefined
      if (typeOf(specs, name) === 'string' && next !== undefined) value = remaining.shift()
      tokens.push({ kind: 'option', name, rawName: arg, index, value, inlineValue: false })
      if (value !== undefined) index++
      continue
    }
    if (arg.length > 2 && arg[0] === '-' && arg[1] !== '-') {
      // -abc: a group, unless its first letter takes a value (-n20)
      if (typeOf(specs, longForShort(arg[1], specs)) !== 'string') {
        const expanded: string[] = []
        for (let i = 1; i < arg.length; i++) {
          const short = arg[i]
          if (typeOf(specs, longForShort(short, specs)) !== 'string' || i === arg.length - 1) expanded.push(`-${short}`)
          else {
            expanded.push(`-${arg.slice(i)}`)
            break
          }
        }
        remaining.unshift(...expanded)
        groupCount = expanded.length
        continue
      }
      const short = arg[1]
      tokens.push({ kind: 'option', name: longForShort(short, specs), rawName: `-${short}`, index, value: arg.slice(2), inlineValue: true })
      continue
    }
    if (arg.length > 2 && arg.startsWith('--')) {
      const eq = arg.indexOf('=', 3)
      if (eq === -1) {
        const name = arg.slice(2)
        let value: string | undefined
        if (typeOf(specs, name) === 'string' && next !== undefined) value = remaining.shift()
        tokens.push({ kind: 'option', name, rawName: arg, index, value, inlineValue: false })
        if (value !== undefined) index++
      } else {
        const name = arg.slice(2, eq)
        tokens.push({ kind: 'option', name, rawName: `--${name}`, index, value: arg.slice(eq + 1), inlineValue: true })
      }
      continue
    }
    tokens.push({ kind: 'positional', value: arg })
  }
  return tokens
}

/** How parseArgs names an option in its messages, and so the CLI: its long form. */
function longForm(name: string): string {
  return `--${name}`
}

/**
 * Parse args (which hold no `--`) against specs, strictly: an unknown
 * option, a string option without a value or with one that looks like an
 * option (unless given inline), or a boolean option given a value is an
 * OptionError, the first in the order of the arguments.
 */
export function parseOptions(args: string[], specs: OptionSpecs): ParsedOptions {
  const values: ParsedOptions['values'] = Object.create(null) as ParsedOptions['values']
  const positionals: string[] = []
  const options: OptionToken[] = []
  for (const token of tokenize(args, specs)) {
    if (token.kind === 'positional') {
      positionals.push(token.value)
      continue
    }
    const spec = own(specs, token.name)
    if (spec === undefined) throw new OptionError(`unknown option '${token.rawName}' (arguments for the program go after '--')`)
    if (spec.type === 'string' && typeof token.value !== 'string') throw new OptionError(`option '${longForm(token.name)}' needs a value`)
    if (spec.type === 'boolean' && token.value != null) throw new OptionError(`option '${longForm(token.name)}' does not take a value`)
    if (!token.inlineValue && token.value !== undefined && token.value.length > 1 && token.value[0] === '-') {
      throw new OptionError(`option '${token.rawName}' needs a value; to give one that starts with '-', write ${token.rawName}=-VALUE`)
    }
    options.push({ name: token.name, rawName: token.rawName, index: token.index, value: token.value, inlineValue: token.inlineValue })
    if (token.name === '__proto__') continue
    const value = token.value ?? true
    if (spec.multiple) {
      const list = values[token.name]
      if (Array.isArray(list)) list.push(value)
      else values[token.name] = [value]
    } else values[token.name] = value
  }
  return { values, positionals, options }
}
