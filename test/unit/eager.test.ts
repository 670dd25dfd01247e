// The CLI bundles' eager functions (scripts/eager.mjs, issue 23): a hot
// top-level declaration moves to the start of its bundle as a
// parenthesized function expression, which V8 compiles with the bundle
// instead of parsing it twice. The move must not change what the code
// does (a declaration is hoisted), must find functions as V8 does (not
// fooled by strings or regular expressions), and the build must carry
// every function scripts/eager-functions.json lists.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runInNewContext } from 'node:vm'
import { buildSync } from 'esbuild'
import { describe, expect, it } from 'vitest'
// @ts-expect-error: a build script, plain JavaScript
import { declarations, makeEager, namer, topLevelFunctions } from '../../scripts/eager.mjs'

interface Decl {
  name: string
  nameStart: number
  async: boolean
}
const eagerAll = (text: string): string => makeEager(text, declarations(text, topLevelFunctions(text)))
const root = join(import.meta.dirname, '..', '..')

describe('eager functions (scripts/eager.mjs)', () => {
  it('moves every top-level declaration to the start, and the code still runs as before: hoisting kept', () => {
    const text = 'var r=f(2);function f(x){return g(x)+1}function g(y){return y*2}async function h(){return 7}exports.r=r;exports.h=h;'
    const eager = eagerAll(text)
    expect(eager.startsWith('var f=(function f(x){return g(x)+1});var g=(function g(y){return y*2});var h=(async function h(){return 7});')).toBe(true)
    const exports: { r?: number; h?: () => Promise<number> } = {}
    runInNewContext(eager, { exports })
    expect(exports.r).toBe(5)
    return expect(exports.h?.()).resolves.toBe(7)
  })

  it('keeps a "use strict" prologue first: the moved functions stay strict', () => {
    const text = '"use strict";var r=f();function f(){return this===undefined}exports.r=r;'
    const eager = eagerAll(text)
    expect(eager.startsWith('"use strict";var f=(function f(){')).toBe(true)
    const exports: { r?: boolean } = {}
    runInNewContext(eager, { exports })
    expect(exports.r).toBe(true)
  })

  it('moves only declarations that are statements of their own, not a function expression', () => {
    const text = 'var x;x=async function f(){return 1};function g(){return 2}'
    expect((declarations(text, topLevelFunctions(text)) as Decl[]).map((d) => d.name)).toEqual(['g'])
  })

  it('finds functions as V8 does: not in strings, templates or regular expressions, not nested ones, not generators', () => {
    const text = 'var s="function a(){}",t=`function b(){${"}"}`,re=/function c\\(/;function real(){return function inner(){}}function*gen(){}const arrow=()=>1;'
    const decls = declarations(text, topLevelFunctions(text)) as Decl[]
    expect(decls.map((d) => d.name)).toEqual(['real'])
  })

  it("names a function by its source file and name through the bundle's source map, whatever the minifier called it", () => {
    const out = buildSync({
      stdin: { contents: 'export function parseThings(a: number) { return a + 1 }\nexport function other() { return parseThings(1) }\n', sourcefile: 'src/things.ts', loader: 'ts' },
      format: 'cjs',
      minify: true,
      sourcemap: 'external',
      write: false,
      outdir: 'out',
    })
    const js = out.outputFiles.find((f) => f.path.endsWith('.js'))?.text as string
    const map = JSON.parse(out.outputFiles.find((f) => f.path.endsWith('.map'))?.text as string)
    const name = namer(js, map)
    const keys = (declarations(js, topLevelFunctions(js)) as Decl[]).map((d) => name(d.nameStart))
    expect(keys.sort()).toEqual(['src/things.ts:other', 'src/things.ts:parseThings'])
  })

  it('every function scripts/eager-functions.json lists is eager in its built bundle', () => {
    const list = JSON.parse(readFileSync(join(root, 'scripts', 'eager-functions.json'), 'utf8')) as Record<string, string[]>
    expect(Object.keys(list)).toEqual(expect.arrayContaining(['cli-start', 'cli-status', 'cli-stop', 'cli-logs', 'cli-list']))
    for (const [bundle, keys] of Object.entries(list)) {
      const text = readFileSync(join(root, 'dist', `${bundle}.cjs`), 'utf8')
      const tops = topLevelFunctions(text) as [number, number][]
      const eager = tops.filter(([start]) => /var ([\w$]+)=\((async )?function \1$/.test(text.slice(Math.max(0, start - 80), start)))
      expect(eager.length, `${bundle}: eager functions (a stale list? run node scripts/eager-profile.mjs)`).toBe(keys.length)
      // ...and they come first, after a "use strict" where there is one: nothing runs before them.
      expect(/^("use strict";)?var ([\w$]+)=\((async )?function \2\(/.test(text), bundle).toBe(true)
    }
  })
})
