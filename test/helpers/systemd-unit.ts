// Reading generated systemd files back, written from systemd's documented
// rules (systemd.syntax(7), systemd.service(5) "Command lines",
// systemd.exec(5) EnvironmentFile=) and independent of the generator's own
// quoting code, so a quoting bug cannot cancel itself out; and running
// systemd-analyze verify on them.
import { spawnSync } from 'node:child_process'
import { beforeAll, beforeEach } from 'vitest'
import { cleanUpDaemons } from './daemons.js'
import { cleanUpReceivers } from './notify.js'
import { cleanUpScratchDirs, scratchDir } from './scratch.js'

/**
 * Call at the top of a `unit` test file: a scratch directory for each test
 * (the getter), the daemons and notify receivers a test started cleaned up
 * after it (registered in this order: vitest runs afterEach hooks
 * last-registered first, so receivers and daemons go before the
 * directories), and systemd-analyze checked once.
 */
export function useUnitTests(): () => string {
  cleanUpScratchDirs()
  cleanUpDaemons()
  cleanUpReceivers()
  let dir: string | undefined
  beforeEach(() => {
    dir = scratchDir('nd-unit-')
  })
  beforeAll(() => {
    // Debian's systemd package brings it (.ci/run installs it when missing).
    const r = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error('systemd-analyze is missing: apt-get install systemd')
  })
  return () => {
    if (dir === undefined) throw new Error('useUnitTests: no test is running')
    return dir
  }
}

export interface Unit {
  /** section -> [key, raw value] in file order */
  sections: Map<string, [string, string][]>
  comments: string[]
}

/** Parse a unit file. Fails on anything this generator must never write: a CR, a continuation line, a line outside a section. */
export function parseUnit(text: string): Unit {
  if (text.includes('\r')) throw new Error('a raw carriage return ends a line for systemd')
  const sections = new Map<string, [string, string][]>()
  const comments: string[] = []
  let current: [string, string][] | undefined
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.startsWith(';')) {
      comments.push(line.slice(1).trim())
      continue
    }
    if (line.trim() === '') continue
    if (line.endsWith('\\')) throw new Error(`a line ending in a backslash continues onto the next: ${JSON.stringify(line)}`)
    const section = /^\[([^\]]+)\]$/.exec(line)
    if (section) {
      current = []
      sections.set(section[1], current)
      continue
    }
    const eq = line.indexOf('=')
    if (eq <= 0 || current === undefined) throw new Error(`not a directive in a section: ${JSON.stringify(line)}`)
    current.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()])
  }
  return { sections, comments }
}

/** Every value of `key` in `section`. */
export function values(unit: Unit, section: string, key: string): string[] {
  return (unit.sections.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v)
}

/** The one value of `key` in `section` (undefined when absent; fails when repeated). */
export function value(unit: Unit, section: string, key: string): string | undefined {
  const all = values(unit, section, key)
  if (all.length > 1) throw new Error(`${key}= appears ${all.length} times in [${section}]`)
  return all[0]
}

/** Specifier expansion as systemd does it, for values that may only hold "%%". */
export function specifiers(s: string): string {
  return s.replace(/%(.)/gs, (m, c: string) => {
    if (c === '%') return '%'
    throw new Error(`specifier ${m} in ${JSON.stringify(s)}: a value never holds an expanding one`)
  })
}

const SIMPLE: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'", s: ' ' }

/** One C escape at text[i] (just after the backslash): [the character, chars consumed]. */
function cUnescape(text: string, i: number): [string, number] {
  const c = text[i]
  if (c in SIMPLE) return [SIMPLE[c], 1]
  if (c === 'x') return [String.fromCodePoint(parseInt(text.slice(i + 1, i + 3), 16)), 3]
  if (c === 'u') return [String.fromCodePoint(parseInt(text.slice(i + 1, i + 5), 16)), 5]
  if (c === 'U') return [String.fromCodePoint(parseInt(text.slice(i + 1, i + 9), 16)), 9]
  if (/[0-7]/.test(c)) return [String.fromCodePoint(parseInt(text.slice(i, i + 3), 8)), 3]
  throw new Error(`unknown escape \\${c} in ${JSON.stringify(text)}`)
}

/**
 * Words as systemd splits a command line or a list of assignments: white
 * space separates, double and single quotes group, C escapes inside and
 * outside quotes (after specifiers were expanded).
 */
export function words(text: string): string[] {
  const out: string[] = []
  let i = 0
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i])) i++
    if (i >= text.length) break
    let word = ''
    let quote: string | undefined
    for (; i < text.length; i++) {
      const c = text[i]
      if (quote === undefined && /\s/.test(c)) break
      if (c === '\\') {
        const [ch, n] = cUnescape(text, i + 1)
        word += ch
        i += n
      } else if (quote === undefined && (c === '"' || c === "'")) quote = c
      else if (c === quote) quote = undefined
      else word += c
    }
    if (quote !== undefined) throw new Error(`unterminated quote in ${JSON.stringify(text)}`)
    out.push(word)
  }
  return out
}

/**
 * A word of ExecStart= as the program receives it: "$$" is a "$"; any other
 * "$" would be a variable expanded at exec time, which a generated word
 * never holds.
 */
export function execVariables(word: string): string {
  return word.replace(/\$(\$?)/g, (m, second: string) => {
    if (second === '$') return '$'
    throw new Error(`a lone $ in ${JSON.stringify(word)} would expand a variable`)
  })
}

/** The argv of an ExecStart= value, as the program would get it. */
export function execArgv(raw: string): string[] {
  return words(specifiers(raw)).map(execVariables)
}

/** Parse an EnvironmentFile= by systemd.exec(5)'s rules (NAME=VALUE lines; quotes; backslashes). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  let i = 0
  const eol = (c: string | undefined) => c === '\n' || c === '\r'
  while (i < text.length) {
    while (i < text.length && /[ \t\n\r]/.test(text[i])) i++
    if (i >= text.length) break
    if (text[i] === '#' || text[i] === ';') {
      while (i < text.length && !eol(text[i])) i++
      continue
    }
    let key = ''
    while (i < text.length && text[i] !== '=' && !eol(text[i])) key += text[i++]
    if (text[i] !== '=') continue // a line without '=' is ignored
    i++
    while (text[i] === ' ' || text[i] === '\t') i++
    let v = ''
    let trailing = 0 // unquoted trailing white space, trimmed at the end of the line
    while (i < text.length && !eol(text[i])) {
      const c = text[i]
      if (c === "'") {
        const end = text.indexOf("'", i + 1)
        if (end < 0) throw new Error('unterminated single quote')
        v += text.slice(i + 1, end)
        i = end + 1
        trailing = 0
      } else if (c === '"') {
        i++
        while (text[i] !== '"') {
          if (i >= text.length) throw new Error('unterminated double quote')
          if (text[i] === '\\') {
            const n = text[i + 1]
            if (n === '\n') {
              i += 2
              continue
            }
            v += '"\\`$'.includes(n) ? n : `\\${n}`
            i += 2
          } else v += text[i++]
        }
        i++
        trailing = 0
      } else if (c === '\\') {
        if (text[i + 1] !== '\n') v += text[i + 1]
        i += 2
        trailing = 0
      } else {
        v += c
        trailing = c === ' ' || c === '\t' ? trailing + 1 : 0
        i++
      }
    }
    env[key.trim()] = trailing > 0 ? v.slice(0, -trailing) : v
  }
  return env
}

export interface Verified {
  status: number | null
  stderr: string
  /** The unit dump systemd-analyze prints at debug level: unit name -> its "Key: value" lines. */
  dump: Map<string, string[]>
}

/**
 * systemd-analyze verify on unit files (paths), run twice: at the default
 * log level for its verdict and warnings, and at debug level for its dump
 * of how it read each unit.
 */
export function verify(paths: string[]): Verified {
  const run = (level?: string) =>
    spawnSync('systemd-analyze', ['verify', '--man=no', ...paths], {
      encoding: 'utf8',
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
      env: level === undefined ? process.env : { ...process.env, SYSTEMD_LOG_LEVEL: level },
    })
  const plain = run()
  const debug = run('debug')
  const dump = new Map<string, string[]>()
  let lines: string[] | undefined
  for (const line of debug.stdout.split('\n')) {
    const head = /^\t-> Unit (.+):$/.exec(line)
    if (head) dump.set(head[1], (lines = []))
    else if (lines && line.startsWith('\t\t')) lines.push(line.trim())
  }
  return { status: plain.status, stderr: plain.stderr, dump }
}

/** A value of systemd's dump ("Key: value"); every one when repeated. */
export function dumped(v: Verified, unit: string, key: string): string[] {
  const lines = v.dump.get(unit)
  if (lines === undefined) throw new Error(`no dump of ${unit}`)
  return lines.filter((l) => l.startsWith(`${key}: `)).map((l) => l.slice(key.length + 2))
}

/** The command line of `-> ExecStart:` (or another Exec*) in systemd's dump. */
export function dumpedCommand(v: Verified, unit: string, exec: string): string {
  const lines = v.dump.get(unit) ?? []
  const at = lines.indexOf(`-> ${exec}:`)
  const line = at < 0 ? undefined : lines[at + 1]
  if (line === undefined || !line.startsWith('Command Line: ')) throw new Error(`no ${exec} command line in the dump of ${unit}`)
  return line.slice('Command Line: '.length)
}

/**
 * A command line as systemd's dump quotes it: words that need it in double
 * quotes, with \\ \" \$ \` and C escapes (octal for control characters).
 */
export function dumpedArgv(line: string): string[] {
  const out: string[] = []
  let i = 0
  while (i < line.length) {
    while (line[i] === ' ') i++
    if (i >= line.length) break
    let word = ''
    if (line[i] === '"') {
      i++
      while (line[i] !== '"') {
        if (i >= line.length) throw new Error(`unterminated quote in ${line}`)
        if (line[i] === '\\') {
          const n = line[i + 1]
          if ('$`'.includes(n)) {
            word += n
            i += 2
          } else {
            const [ch, len] = cUnescape(line, i + 1)
            word += ch
            i += 1 + len
          }
        } else word += line[i++]
      }
      i++
    } else {
      while (i < line.length && line[i] !== ' ') word += line[i++]
    }
    out.push(word)
  }
  return out
}

/** A systemd time span in ms (the units this generator writes). */
export function spanMs(text: string): number {
  const m = /^(\d+)(ms|s|min)?$/.exec(text)
  if (!m) throw new Error(`not a time span: ${text}`)
  return Number(m[1]) * { ms: 1, s: 1000, min: 60_000 }[m[2] ?? 's']!
}

/** systemd's dump writes spans like "1min 30s", "250ms", "7s". */
export function dumpSpanMs(text: string): number {
  let ms = 0
  for (const part of text.split(' ')) {
    const m = /^(\d+)(ms|s|min|h)$/.exec(part)
    if (!m) throw new Error(`not a dumped span: ${text}`)
    ms += Number(m[1]) * { ms: 1, s: 1000, min: 60_000, h: 3_600_000 }[m[2]]!
  }
  return ms
}

/** Environment= assignments of a unit, unquoted. */
export function unitEnvironment(unit: Unit): Record<string, string> {
  const env: Record<string, string> = {}
  for (const raw of values(unit, 'Service', 'Environment')) {
    for (const w of words(specifiers(raw))) {
      const eq = w.indexOf('=')
      env[w.slice(0, eq)] = w.slice(eq + 1)
    }
  }
  return env
}
