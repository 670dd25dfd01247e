// The shape of src/, checked from its import graph: every module sits in a
// layer, imports only from its own layer or the ones below, and no import
// circle exists (type-only imports count too: they are dependencies of the
// design, if not of the running code). Also the size rules: at most
// MAX_TOP_FILES modules at the top of src/, none over MAX_LINES lines.
// Specifiers are read as text: static and dynamic imports, export-from,
// and require()/load() of a relative path (the daemon side loads the
// package's modules lazily that way).
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, posix } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root } from '../helpers/caller.js'

const src = join(root, 'src')

/**
 * The layers, lowest first. A module may import from its own layer and the
 * ones before it. The base modules at the top of src/ are named one by one:
 * a new top-level module must be given its place here.
 */
const LAYERS: { name: string; files?: string[]; dir?: string }[] = [
  { name: 'base', files: ['protocol.ts', 'errors.ts', 'native.ts', 'addon-registry.ts', 'package-root.ts', 'addon.ts', 'logger.ts', 'escape.ts', 'duration.ts', 'delay.ts', 'signals.ts', 'session.ts'] },
  { name: 'daemon', dir: 'daemon/' },
  { name: 'proc', dir: 'proc/' },
  { name: 'files', dir: 'files/' },
  { name: 'logs', dir: 'logs/' },
  { name: 'options', dir: 'options/' },
  { name: 'control', dir: 'control/' },
  { name: 'names', dir: 'names/' },
  { name: 'launch', dir: 'launch/' },
  { name: 'systemd', dir: 'systemd/' },
  { name: 'cli', dir: 'cli/' },
  { name: 'api', files: ['index.ts'] },
]

const MAX_TOP_FILES = 15
const MAX_LINES = 450

/** Every source module, as a path relative to src/ with '/' separators. */
function modules(dir = src, prefix = ''): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...modules(path, `${prefix}${name}/`))
    else if (/\.c?ts$/.test(name) && !name.endsWith('.d.ts')) out.push(`${prefix}${name}`)
  }
  return out
}

function layerOf(module: string): number {
  return LAYERS.findIndex((l) => (l.dir !== undefined ? module.startsWith(l.dir) : l.files?.includes(module)))
}

/** The text without comments (block comments, and lines that are a // comment). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bload\s*\(\s*|^\s*import\s+)(['"])(\.{1,2}\/[^'"]+)\1/gm

/** The modules `module` imports (relative specifiers only: the package's own), as module paths; unresolved ones as given. */
function importsOf(module: string, known: Set<string>): { to: string; resolved: boolean }[] {
  const text = code(readFileSync(join(src, module), 'utf8'))
  const out: { to: string; resolved: boolean }[] = []
  for (const m of text.matchAll(SPECIFIER)) {
    const target = posix.normalize(posix.join(posix.dirname(module), m[2])).replace(/\.js$/, '.ts').replace(/\.cjs$/, '.cts')
    out.push({ to: known.has(target) ? target : m[2], resolved: known.has(target) })
  }
  return out
}

/** Strongly connected components of more than one module (or a module that imports itself): the import circles. */
function circles(graph: Map<string, string[]>): string[][] {
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: string[][] = []
  const visit = (v: string): void => {
    index.set(v, next)
    low.set(v, next)
    next++
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number))
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number))
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = []
      let w: string
      do {
        w = stack.pop() as string
        onStack.delete(w)
        scc.push(w)
      } while (w !== v)
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort())
    }
  }
  for (const v of graph.keys()) if (!index.has(v)) visit(v)
  return found
}

describe('the layout of src/', () => {
  const all = modules()
  const known = new Set(all)
  const graph = new Map(all.map((m) => [m, importsOf(m, known)]))

  it('reads a graph: the modules and their imports are found', () => {
    // A parser that found nothing would pass every rule below.
    expect(all.length).toBeGreaterThan(50)
    expect([...graph.values()].reduce((n, edges) => n + edges.length, 0)).toBeGreaterThan(200)
  })

  it('every relative import names a module of src/', () => {
    const unresolved = [...graph].flatMap(([m, edges]) => edges.filter((e) => !e.resolved).map((e) => `${m} -> ${e.to}`))
    expect(unresolved).toEqual([])
  })

  it('every module has a layer', () => {
    expect(all.filter((m) => layerOf(m) === -1)).toEqual([])
  })

  it('no module imports from a layer above its own', () => {
    const upward = [...graph].flatMap(([m, edges]) =>
      edges
        .filter((e) => e.resolved && layerOf(e.to) > layerOf(m))
        .map((e) => `${m} (${LAYERS[layerOf(m)]?.name}) -> ${e.to} (${LAYERS[layerOf(e.to)]?.name})`),
    )
    expect(upward).toEqual([])
  })

  it('no import circle', () => {
    const edges = new Map([...graph].map(([m, es]) => [m, es.filter((e) => e.resolved).map((e) => e.to)]))
    expect(circles(edges)).toEqual([])
  })

  it('the cycle check finds a circle when there is one', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['d']],
      ['e', ['a']],
    ])
    expect(circles(g)).toEqual([['a', 'b', 'c'], ['d']])
  })

  it(`at most ${MAX_TOP_FILES} modules at the top of src/, none over ${MAX_LINES} lines`, () => {
    expect(all.filter((m) => !m.includes('/')).length).toBeLessThanOrEqual(MAX_TOP_FILES)
    const long = all
      .map((m) => ({ m, lines: readFileSync(join(src, m), 'utf8').split('\n').length - 1 }))
      .filter((f) => f.lines > MAX_LINES)
      .map((f) => `${f.m}: ${f.lines} lines`)
    expect(long).toEqual([])
  })
})
