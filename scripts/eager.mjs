// Eager functions: the CLI bundles' hot top-level functions compiled with
// the bundle, not on their first call.
//
// V8 compiles a function lazily: the bundle's compile pre-parses it, and
// its first call parses it again, in full, and makes its bytecode. For the
// ~60 functions a command runs once each, the second parse and each lazy
// compile's set-up were the largest part of the CLI's own time (a command
// spends ~80% of its CPU compiling; issue 23). A function expression in
// parentheses, `(function f(){...})`, is V8's hint that it runs at once:
// compiled eagerly, in the bundle's own compile, parsed once. So each hot
// declaration `function f(...){...}` moves to the start of the bundle as
// `var f=(function f(...){...});`. At the start, because a declaration is
// hoisted: the function exists before any statement runs, and so it does
// here (its body refers to the bundle's names only when it runs).
//
// Which functions are hot is measured, not guessed: scripts/eager-profile.mjs
// runs each command the way scripts and dashboards do and records the
// top-level functions that ran, by their source file and name
// (scripts/eager-functions.json). Eager compiling of every function would
// cost more than it saves: half of a bundle never runs in a given command.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The CommonJS wrapper's parameters: the bundle is compiled as Node's loader compiles it. */
const WRAPPER = ['exports', 'require', 'module', '__filename', '__dirname']

/**
 * The top-level functions of a CommonJS bundle's text, as V8 sees them:
 * [start, end) of each (start at its parameter list), in order. V8's own
 * parser finds them (the bundle compiled, not run, in a child Node with
 * --log-function-events), so strings, templates and regular expressions
 * never fool it.
 */
export function topLevelFunctions(text) {
  const dir = mkdtempSync(join(tmpdir(), 'nd-eager-'))
  try {
    const file = join(dir, 'bundle.cjs')
    const log = join(dir, 'v8.log')
    writeFileSync(file, text)
    const compile = `require('node:vm').compileFunction(require('node:fs').readFileSync(${JSON.stringify(file)}, 'utf8'), ${JSON.stringify(WRAPPER)}, { filename: ${JSON.stringify(file)} })`
    const r = spawnSync(process.execPath, ['--log-function-events', `--logfile=${log}`, '--no-logfile-per-isolate', '-e', compile], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } })
    if (r.status !== 0) throw new Error(`eager: compiling the bundle failed: ${r.stderr}`)
    const ranges = new Map()
    for (const e of functionEvents(readFileSync(log, 'utf8'))) if (e.script === file && e.start > 0) ranges.set(e.start, e.end)
    const top = []
    let end = -1
    for (const [s, e] of [...ranges].sort((a, b) => a[0] - b[0])) {
      if (s >= end) {
        top.push([s, e])
        end = e
      }
    }
    return top
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * The events of a V8 --log-function-events log ("function,KIND,SCRIPT,START,END,..."),
 * each with its script named as V8 named it (a file's path): { kind, script, start, end }.
 */
export function functionEvents(logText) {
  const names = new Map()
  const events = []
  for (const line of logText.split('\n')) {
    const f = line.split(',')
    if (f[0] === 'script-details') names.set(f[1], f[2])
    else if (f[0] === 'function') events.push({ kind: f[1], script: f[2], start: Number(f[3]), end: Number(f[4]) })
  }
  for (const e of events) e.script = names.get(e.script)
  return events
}

/**
 * The top-level function declarations among them: `function NAME(` or
 * `async function NAME(` (generators are left alone), with where the
 * declaration and its name start.
 */
export function declarations(text, tops) {
  const out = []
  for (const [start, end] of tops) {
    // A statement of its own: after a ';' or '}', or first in the text (not
    // `x=async function f(`, an expression).
    const from = Math.max(0, start - 200)
    const m = /(^|[;}])(\s*)((async\s+)?function\s+([\w$]+))$/.exec(text.slice(from, start))
    if (!m || (m[1] === '' && from > 0)) continue
    out.push({ declStart: start - m[3].length, nameStart: start - m[5].length, start, end, name: m[5], async: m[4] !== undefined })
  }
  return out
}

/** The length of the text's directive prologue ("use strict"; and the like), which must stay first. */
function prologueLength(text) {
  return /^(\s*(?:"[^"\\\n]*"|'[^'\\\n]*')\s*;)*/.exec(text)[0].length
}

/**
 * Move the given declarations to the start of the text, after its
 * directive prologue, each as `var f=(function f(...){...});`.
 */
export function makeEager(text, decls) {
  const chosen = [...decls].sort((a, b) => a.declStart - b.declStart)
  const prologue = prologueLength(text)
  if (chosen.some((d) => d.declStart < prologue)) throw new Error('eager: a declaration inside the directive prologue')
  let head = text.slice(0, prologue)
  let body = ''
  let at = prologue
  for (const d of chosen) {
    head += `var ${d.name}=(${d.async ? 'async ' : ''}function ${d.name}${text.slice(d.start, d.end)});`
    body += text.slice(at, d.declStart)
    at = d.end
  }
  return head + body + text.slice(at)
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/** A source map's mappings, decoded: for each generated line, its segments [col, source, line, col, name?]. */
function decodeMappings(mappings) {
  const lines = []
  let source = 0
  let oline = 0
  let ocol = 0
  let name = 0
  for (const line of mappings.split(';')) {
    const segs = []
    let col = 0
    for (const seg of line.split(',')) {
      if (seg === '') continue
      const v = []
      let value = 0
      let shift = 0
      for (const ch of seg) {
        const digit = B64.indexOf(ch)
        value += (digit & 31) << shift
        if (digit & 32) shift += 5
        else {
          v.push(value & 1 ? -(value >>> 1) : value >>> 1)
          value = 0
          shift = 0
        }
      }
      col += v[0]
      const s = [col]
      if (v.length > 1) {
        source += v[1]
        oline += v[2]
        ocol += v[3]
        s.push(source, oline, ocol)
        if (v.length > 4) {
          name += v[4]
          s.push(name)
        }
      }
      segs.push(s)
    }
    lines.push(segs)
  }
  return lines
}

/**
 * A function that names a position of the generated text (a name token):
 * "SOURCE:NAME", the source file relative to the map's sources root and
 * the name as written there; undefined where the map has no name.
 */
export function namer(text, map) {
  const decoded = decodeMappings(map.mappings)
  const lineStarts = [0]
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1)
  return (offset) => {
    let lo = 0
    let hi = lineStarts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (lineStarts[mid] <= offset) lo = mid
      else hi = mid - 1
    }
    const col = offset - lineStarts[lo]
    const seg = (decoded[lo] ?? []).findLast((s) => s[0] === col)
    if (seg === undefined || seg.length < 5) return undefined
    return `${map.sources[seg[1]].replace(/^(\.\.\/)+/, '')}:${map.names[seg[4]]}`
  }
}
