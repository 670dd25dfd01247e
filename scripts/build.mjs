// Compiles the TypeScript (tsc) and bundles the CLI with its dependencies
// (esbuild), so the CLI loads a few files instead of resolving many modules.
//
// Layout, all directly in dist/ (src/native.ts finds the package root as the
// parent of the directory its code runs from):
//   dist/cli.js          the dispatcher (src/cli/main.ts + src/cli/args.ts)
//   dist/cli-<cmd>.js    one self-contained bundle per command, imported by
//                        the dispatcher only when that command runs
//   dist/cli-pino.cjs    pino in one CommonJS file, required only when the
//                        launcher writes a log line (stage lines in --log-file)
// One file per command rather than esbuild's code splitting: splitting turns
// the code commands share into a handful of small chunks, and every ES
// module costs the loader a resolve, a read and a compile; `start` went from
// eight modules to three (measured: ~4 ms less of a ~12 ms CLI overhead).
// A command bundle repeats the small modules it shares with the dispatcher
// (args.ts), so the dispatcher never relies on class identity across them.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
const cliDir = join(root, 'src', 'cli')
const bin = (name) => join(root, 'node_modules', '.bin', name)
execFileSync(bin('tsc'), ['-p', join(root, 'tsconfig.json')], { stdio: 'inherit', cwd: root })

const { build } = await import('esbuild')

// The commands: every `import('./<name>.js')` in the dispatcher.
const mainSource = readFileSync(join(cliDir, 'main.ts'), 'utf8')
const commands = [...new Set([...mainSource.matchAll(/import\('\.\/([a-z-]+)\.js'\)/g)].map((m) => m[1]))]
if (!commands.includes('start')) throw new Error('scripts/build.mjs: found no command imports in src/cli/main.ts')

/**
 * Node's builtins through process.getBuiltinModule() instead of ES imports:
 * an ES import of a builtin builds a facade that reads every export, and for
 * node:fs that runs the lazy ReadStream getters, which load Node's whole
 * stream implementation (~5 ms of the CLI's start-up here). Only plain data
 * properties are exported (no getter ever runs), so importing a lazy export
 * such as fs.promises fails the build instead of quietly costing time.
 */
const builtinsWithoutFacades = {
  name: 'builtins-without-facades',
  setup(b) {
    const names = new Set(builtinModules.flatMap((n) => [n, `node:${n}`]))
    b.onResolve({ filter: /.*/ }, (args) =>
      names.has(args.path) ? { path: args.path.replace(/^node:/, ''), namespace: 'builtin' } : undefined,
    )
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, async (args) => {
      const mod = (await import(`node:${args.path}`)).default ?? {}
      const plain = Object.keys(mod).filter(
        (k) => /^[A-Za-z_$][\w$]*$/.test(k) && 'value' in Object.getOwnPropertyDescriptor(mod, k),
      )
      const id = JSON.stringify(`node:${args.path}`)
      return {
        contents: `const m = process.getBuiltinModule(${id});\nexport default m;\nexport const { ${plain.join(', ')} } = m;\n`,
        loader: 'js',
      }
    })
  },
}

/** src/log.ts loads pino with a createRequire()'d require; in the bundle that require must find dist/cli-pino.cjs. */
const pinoFromBundle = {
  name: 'pino-from-bundle',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]log\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8')
      const from = /require\((['"])pino\1\)/g
      if (!from.test(text)) throw new Error(`${args.path}: no require('pino') found; update scripts/build.mjs`)
      return { contents: text.replace(from, "require('./cli-pino.cjs')"), loader: 'ts' }
    })
  },
}

/**
 * Two builtins pino's dependencies take at load time, replaced in its CLI
 * bundle by what they actually use, so that requiring pino does not load
 * Node's stream implementation (which both would: ~5 ms of the ~9 ms pino
 * cost the CLI here).
 * - assert: sonic-boom and thread-stream only call assert(value, message);
 *   node:assert builds process.stderr for its colours. Any other use of
 *   assert fails the build.
 * - worker_threads: pino reads isMainThread (this bundle only ever runs in
 *   the CLI's main thread) and thread-stream takes Worker, which it only
 *   constructs for a transport; the real module loads then, not before.
 */
const pinoBuiltinShims = {
  name: 'pino-builtin-shims',
  setup(b) {
    b.onResolve({ filter: /^(node:)?(assert|worker_threads)$/ }, (args) => ({
      path: args.path.replace(/^node:/, ''),
      namespace: 'pino-shim',
    }))
    b.onLoad({ filter: /^assert$/, namespace: 'pino-shim' }, () => ({
      contents: `module.exports = function assert(value, message) {
  if (value) return
  const err = new Error(message === undefined ? 'The expression evaluated to a falsy value' : String(message))
  err.code = 'ERR_ASSERTION'
  throw err
}
`,
      loader: 'js',
    }))
    b.onLoad({ filter: /^worker_threads$/, namespace: 'pino-shim' }, () => ({
      contents: `const real = () => process.getBuiltinModule('node:worker_threads')
module.exports = {
  isMainThread: true,
  Worker: class Worker {
    constructor(...args) {
      return new (real().Worker)(...args)
    }
  },
  get parentPort() {
    return real().parentPort
  },
  get workerData() {
    return real().workerData
  },
}
`,
      loader: 'js',
    }))
    b.onEnd((result) => {
      for (const file of result.outputFiles ?? []) {
        if (/\bassert\.[A-Za-z_$]/.test(file.text)) throw new Error(`${file.path}: pino's code uses more of assert than assert(value, message)`)
        const destructured = [...file.text.matchAll(/\{([^{}]*)\}\s*=\s*require_worker_threads\(\)/g)]
        const calls = (file.text.match(/require_worker_threads\(\)/g) ?? []).length
        if (calls !== destructured.length) throw new Error(`${file.path}: pino's code uses worker_threads other than by destructuring; check the shim`)
        const taken = destructured.flatMap((m) => m[1].split(',').map((s) => s.trim()))
        const unknown = taken.filter((n) => !['isMainThread', 'Worker', 'parentPort', 'workerData'].includes(n))
        if (unknown.length > 0) throw new Error(`${file.path}: pino's code takes ${unknown.join(', ')} from worker_threads; extend the shim`)
      }
    })
  },
}

/** In the dispatcher, `import('./start.js')` is the separate bundle dist/cli-start.js. */
const commandsAsFiles = {
  name: 'commands-as-files',
  setup(b) {
    b.onResolve({ filter: /^\.\/[a-z-]+\.js$/ }, (args) => {
      const name = args.path.slice(2, -3)
      if (basename(args.importer) !== 'main.ts' || !commands.includes(name)) return undefined
      return { path: `./cli-${name}.js`, external: true }
    })
  },
}

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'none',
  logLevel: 'warning',
  absWorkingDir: root,
  write: false,
  outdir: dist,
}

const results = await Promise.all([
  build({
    ...common,
    entryPoints: { 'cli-pino': 'pino' },
    format: 'cjs',
    outExtension: { '.js': '.cjs' },
    plugins: [pinoBuiltinShims],
  }),
  build({
    ...common,
    entryPoints: {
      cli: join(cliDir, 'main.ts'),
      ...Object.fromEntries(commands.map((c) => [`cli-${c}`, join(cliDir, `${c}.ts`)])),
    },
    format: 'esm',
    plugins: [commandsAsFiles, pinoFromBundle, builtinsWithoutFacades],
  }),
])

// Install by rename, so a CLI running meanwhile (other builds and tests share
// this tree) never reads a half-written file; then drop what this build did
// not produce (an older layout's chunks, tsc's unused dist/cli/).
const produced = new Set()
for (const file of results.flatMap((r) => r.outputFiles)) {
  const tmp = `${file.path}.${process.pid}.tmp`
  writeFileSync(tmp, file.contents)
  renameSync(tmp, file.path)
  produced.add(basename(file.path))
}
for (const name of readdirSync(dist)) {
  if ((name === 'cli.js' || name.startsWith('cli-')) && !produced.has(name) && !name.endsWith('.tmp')) rmSync(join(dist, name))
}
rmSync(join(dist, 'cli'), { recursive: true, force: true })
