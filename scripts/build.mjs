// Compiles the TypeScript (tsc) and bundles the CLI with its dependencies
// (esbuild), so the CLI loads a few files instead of resolving many modules.
//
// Layout, all directly in dist/ (src/package-root.ts finds the package root
// as the parent of the directory its code runs from):
//   dist/cli.cjs           the dispatcher (src/cli/main.ts) with the help
//                          texts: it requires a command's file only when
//                          that command runs
//   dist/cli-<command>.cjs one self-contained bundle per command that
//                          scripts run again and again (status, stop, list,
//                          logs, start), by a fixed name: such a command
//                          loads this one file and no other of the CLI's:
//                          bin/node-daemonize.js requires it directly, and
//                          it exports main(argv), the dispatcher's part for
//                          that command (src/cli/command.ts); each file
//                          Node loads costs ~0.3 ms of its own, more than
//                          parsing the code two commands share twice
//   dist/cli-more.cjs      the commands run now and then (restart, reload,
//                          remove, run, unit) in one bundle (src/cli/more.ts),
//                          so that the package does not carry the launcher
//                          and the stop protocol five more times
//   dist/cli-compile-cache.cjs
//                          the compile cache set-up, loaded only where Node
//                          has a compile cache (not on Node 20)
//   dist/cli-pino.cjs      pino in one CommonJS file, required only when the
//                          launcher writes a log line (stage lines in --log-file)
//   dist/cli-lazy-<part>.cjs
//                          code only a rarer way through a command uses (a
//                          launch with a pid file, a dead service, a failed
//                          launch, sockets, ...), required on its first use
//                          (syncParts below)
// Each command thus loads and compiles only what it uses: `status` never
// parses the unit writer, the list table or the launcher (V8 pre-parses all
// of a file it compiles, so one bundle made every command pay for all of
// them). CommonJS (import() of a command becomes require()): Node 20 then
// never sets up its ES module loader for the CLI (measured: ~10 ms more CPU
// for the ES module layout). Loaded by a CommonJS bin/node-daemonize.js
// (bin/package.json); Node's builtins through process.getBuiltinModule (finish()).
// A command bundle's hot functions are compiled with it, not on their first
// call (scripts/eager.mjs, eager() below; the list: scripts/eager-functions.json,
// measured by scripts/eager-profile.mjs).
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { declarations, makeEager, namer, topLevelFunctions } from './eager.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
const cliDir = join(root, 'src', 'cli')
const bin = (name) => join(root, 'node_modules', '.bin', name)
execFileSync(bin('tsc'), ['-p', join(root, 'tsconfig.json')], { stdio: 'inherit', cwd: root })

const { build, transformSync } = await import('esbuild')

/**
 * The library as published: every module tsc emitted, its comments and
 * white space taken out (as the CLI bundle's are; names kept, so a stack
 * trace still names its functions), and only the declarations a user's
 * TypeScript reaches from the package's entry points (dist/index.d.ts,
 * dist/daemon/index.d.ts) kept, with their doc comments. The modules'
 * comments are in src/; the package stays under the 1 MB that
 * .ci/packaging.sh holds it to.
 */
function walkDist(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) walkDist(p, out)
    else out.push(p)
  }
  return out
}
const emitted = walkDist(dist)
for (const file of emitted.filter((f) => /\.c?js$/.test(f) && !/[\\/]cli(-[^\\/]*)?\.cjs$/.test(f))) {
  const { code } = transformSync(readFileSync(file, 'utf8'), {
    loader: 'js',
    format: file.endsWith('.cjs') ? 'cjs' : 'esm',
    target: 'node20',
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
  })
  writeFileSync(file, code)
}
const declared = new Set()
const todo = [join(dist, 'index.d.ts'), join(dist, 'daemon', 'index.d.ts')]
while (todo.length > 0) {
  const file = todo.pop()
  if (declared.has(file)) continue
  declared.add(file)
  for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import\()\s*['"](\.[^'"]+)['"]/g)) {
    todo.push(join(dirname(file), m[1].replace(/\.js$/, '.d.ts').replace(/\.cjs$/, '.d.cts')))
  }
}
for (const file of emitted.filter((f) => /\.d\.c?ts$/.test(f) && !declared.has(f))) rmSync(file)


/** src/logger.ts loads pino with a createRequire()'d require; in the bundle that require must find dist/cli-pino.cjs. */
const pinoFromBundle = {
  name: 'pino-from-bundle',
  setup(b) {
    let replaced = false
    b.onLoad({ filter: /[\\/]src[\\/]logger\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8')
      const from = /require\((['"])pino\1\)/g
      if (!from.test(text)) throw new Error(`${args.path}: no require('pino') found; update scripts/build.mjs`)
      replaced = true
      return { contents: text.replace(from, "require('./cli-pino.cjs')"), loader: 'ts' }
    })
    // A module moved or renamed would leave the bundle requiring pino from node_modules.
    b.onEnd(() => {
      if (!replaced) throw new Error('src/logger.ts was not part of the CLI bundle: update the pino-from-bundle filter in scripts/build.mjs')
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

/**
 * What the dispatcher (src/cli/main.ts) loads when a command runs: each file
 * it import()s becomes a bundle of its own, dist/cli-<file>.cjs, required by
 * that fixed name: a command's own file (src/cli/status.ts), the bundle of
 * the commands run now and then (src/cli/more.ts), the compile cache set-up.
 */
const dispatcherLoads = [...new Set([...readFileSync(join(cliDir, 'main.ts'), 'utf8').matchAll(/\bimport\('\.\/([\w-]+)\.js'\)/g)].map((m) => m[1]))]
for (const must of ['status', 'stop', 'list', 'logs', 'start', 'more', 'compile-cache']) {
  if (!dispatcherLoads.includes(must)) throw new Error(`src/cli/main.ts: no import('./${must}.js') found; update scripts/build.mjs`)
}

/**
 * The commands scripts run again and again, which bin/node-daemonize.js
 * requires directly (without the dispatcher): each one's bundle also
 * exports main(argv), the dispatcher's part for it (src/cli/command.ts).
 * The bin holds the same list; a command missing here fails the build.
 */
const direct = ['status', 'stop', 'start', 'list', 'logs']
const binText = readFileSync(join(root, 'bin', 'node-daemonize.js'), 'utf8')
for (const c of direct) {
  if (!dispatcherLoads.includes(c)) throw new Error(`${c}: not a command the dispatcher loads`)
  if (!binText.includes(`${c}: 1`)) throw new Error(`bin/node-daemonize.js does not route '${c}' to its bundle; update scripts/build.mjs or the bin`)
}

/** A direct command's entry: its module's run and usage, and main(argv) and finish(code) for the bin. */
const commandEntries = {
  name: 'command-entries',
  setup(b) {
    b.onResolve({ filter: /^command-entry:/ }, (args) => ({ path: args.path.slice('command-entry:'.length), namespace: 'command-entry' }))
    b.onLoad({ filter: /.*/, namespace: 'command-entry' }, (args) => ({
      contents: `import { run, usage } from ${JSON.stringify(join(cliDir, `${args.path}.ts`))}
import { commandMain } from ${JSON.stringify(join(cliDir, 'command.ts'))}
export { finish } from ${JSON.stringify(join(cliDir, 'command.ts'))}
export { run, usage }
export const main = (argv) => commandMain(${JSON.stringify(args.path)}, { run, usage }, argv)
`,
      loader: 'ts',
      resolveDir: cliDir,
    }))
  },
}

/**
 * Parts the package's code reaches through a function, synchronously, on a
 * way few runs take (a launch with a pid file, a dead service's leftovers,
 * a failed launch). In the
 * library the function returns the module, imported as any other; in the
 * CLI's bundles it requires dist/<bundle>.cjs on its first call, and the
 * bundle does not carry the part: a command that does not go that way never
 * compiles it (V8 pre-parses all of a file it compiles, ~45 µs a kB here).
 * Each part's loader (src/<loader>) holds `export function <fn>()`.
 */
const syncParts = {
  'launch/pidfile-parts-part.ts': { fn: 'pidfileParts', part: 'launch/pidfile-parts.ts', bundle: 'cli-lazy-pidfile' },
  'control/dead-service-part.ts': { fn: 'deadService', part: 'control/dead-service.ts', bundle: 'cli-lazy-dead' },
  'launch/launch-failure-part.ts': { fn: 'launchFailure', part: 'launch/launch-failure.ts', bundle: 'cli-lazy-failure' },
  'options/listen-given-part.ts': { fn: 'listenGiven', part: 'options/listen-given.ts', bundle: 'cli-lazy-listen' },
  'launch/sockets-open-part.ts': { fn: 'socketsOpen', part: 'launch/sockets-open.ts', bundle: 'cli-lazy-sockets' },
  'proc/cpu-limit-part.ts': { fn: 'cpuLimit', part: 'proc/cpu-limit.ts', bundle: 'cli-lazy-cpu' },
  'control/stop-found-part.ts': { fn: 'stopFoundPart', part: 'control/stop-found.ts', bundle: 'cli-lazy-stop' },
  'control/supervised-view-part.ts': { fn: 'supervisedView', part: 'control/supervised-view.ts', bundle: 'cli-lazy-supervised' },
  'logs/follow-part.ts': { fn: 'logFollow', part: 'logs/follow.ts', bundle: 'cli-lazy-follow' },
  'logs/terminal-part.ts': { fn: 'terminalView', part: 'logs/terminal.ts', bundle: 'cli-lazy-terminal' },
}
const syncPartLoaders = {
  name: 'sync-parts',
  setup(b) {
    b.onLoad({ filter: /-part\.ts$/ }, (args) => {
      const p = syncParts[relative(join(root, 'src'), args.path)]
      if (p === undefined) return undefined
      if (!readFileSync(args.path, 'utf8').includes(`export function ${p.fn}(`)) {
        throw new Error(`${args.path}: no 'export function ${p.fn}(' found; update scripts/build.mjs (syncParts)`)
      }
      return { contents: `let part\nexport function ${p.fn}() {\n  return (part ??= require('./${p.bundle}.cjs'))\n}\n`, loader: 'js' }
    })
    b.onResolve({ filter: /^\.\/cli-lazy-[\w-]+\.cjs$/ }, (args) => (args.kind === 'require-call' ? { path: args.path, external: true } : undefined))
  },
}

const commandsExternal = {
  name: 'commands-external',
  setup(b) {
    b.onResolve({ filter: /^\.\/[\w-]+\.js$/ }, (args) => {
      const name = args.path.slice(2, -3)
      if (args.kind !== 'dynamic-import' || !dispatcherLoads.includes(name)) return undefined
      return { path: `./cli-${name}.cjs`, external: true }
    })
  },
}

const cjs = {
  ...common,
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  // Its local names too: the CLI prints one line for an error, never a stack.
  minifyIdentifiers: true,
  // import() of a command becomes require() in a promise: no ES module loader.
  supported: { 'dynamic-import': false },
  // src/native.ts, src/logger.ts and src/package-root.ts locate files from
  // import.meta.filename and .dirname: in CommonJS, __filename and
  // __dirname (no file URL to make and parse back: ~0.3 ms a bundle).
  define: { 'import.meta.url': '__ndImportMetaUrl', 'import.meta.filename': '__filename', 'import.meta.dirname': '__dirname' },
}

const [pinoBuild, dispatcherBuild, commandsBuild] = await Promise.all([
  build({
    ...common,
    entryPoints: { 'cli-pino': 'pino' },
    format: 'cjs',
    outExtension: { '.js': '.cjs' },
    plugins: [pinoBuiltinShims],
  }),
  build({
    ...cjs,
    entryPoints: { cli: join(cliDir, 'main.ts') },
    plugins: [commandsExternal],
  }),
  // One self-contained bundle per file the dispatcher loads (no splitting,
  // no shared chunks): each command loads one file besides the dispatcher. A file of the
  // package's code may thus be in several bundles; a class too, so the
  // dispatcher tells errors apart by their fields (src/cli/report.ts).
  build({
    ...cjs,
    entryPoints: {
      ...Object.fromEntries(dispatcherLoads.map((c) => [`cli-${c}`, direct.includes(c) ? `command-entry:${c}` : join(cliDir, `${c}.ts`)])),
      ...Object.fromEntries(Object.values(syncParts).map(({ part, bundle }) => [bundle, join(root, 'src', part)])),
    },
    plugins: [pinoFromBundle, commandEntries, syncPartLoaders],
    external: ['./cli-pino.cjs'],
    // Not written: eager() below names functions through them.
    sourcemap: 'external',
  }),
])

/**
 * A command bundle's hot functions made eager (scripts/eager.mjs), as
 * scripts/eager-functions.json lists them. `--no-eager` (what
 * scripts/eager-profile.mjs builds): none is, and each bundle gets a side
 * file, dist/<bundle>.functions.json, that names the top-level declarations
 * of its final text, in order: [start, key].
 */
const noEager = process.argv.includes('--no-eager')
const eagerList = JSON.parse(readFileSync(join(root, 'scripts', 'eager-functions.json'), 'utf8'))
function eager(file, maps) {
  const bundle = basename(file.path, '.cjs')
  const hot = new Set(eagerList[bundle] ?? [])
  if (!noEager && hot.size === 0) return file
  const name = namer(file.text, JSON.parse(maps.get(`${file.path}.map`)))
  const decls = declarations(file.text, topLevelFunctions(file.text)).map((d) => ({ ...d, key: name(d.nameStart) }))
  if (noEager) return { path: file.path, text: file.text, decls }
  const chosen = decls.filter((d) => hot.has(d.key))
  const found = new Set(chosen.map((d) => d.key))
  const stale = [...hot].filter((k) => !found.has(k))
  if (stale.length > 0) console.warn(`build: ${bundle}: no top-level function ${stale.join(', ')}: run node scripts/eager-profile.mjs`)
  const text = makeEager(file.text, chosen)
  // It still compiles (V8's parser, as at run time), and what moved is eager.
  const moved = topLevelFunctions(text).filter(([start]) => /var ([\w$]+)=\((async )?function \1$/.test(text.slice(Math.max(0, start - 200), start)))
  if (moved.length !== chosen.length) throw new Error(`${file.path}: ${chosen.length} functions made eager, ${moved.length} found so`)
  return { path: file.path, text }
}

/** In a --no-eager build: the side file naming the final text's top-level declarations. */
function functionsFile(file, finished) {
  const text = finished.contents.toString()
  const now = declarations(text, topLevelFunctions(text))
  if (now.length !== file.decls.length || now.some((d, i) => d.name !== file.decls[i].name)) throw new Error(`${file.path}: finish() changed the top-level declarations`)
  const list = now.map((d, i) => [d.start, file.decls[i].key ?? null])
  return { path: file.path.replace(/\.cjs$/, '.functions.json'), contents: Buffer.from(JSON.stringify(list)) }
}

/**
 * A file that uses import.meta.url gets it from its own __filename (every
 * file is in dist/). Node's builtins are taken with process.getBuiltinModule
 * (Node >= 20.16; package.json asks for 20.19): the same objects require()
 * returns, without the public loader's ES module facade that each builtin
 * gets on its first require() (node:fs and node:path, ~0.1 ms a command here).
 */
function finish(file) {
  if (/\bimport\s*\(|\bimport\.meta\b/.test(file.text)) throw new Error(`${file.path}: an ES module construct is left in the CommonJS output`)
  const banner = file.text.includes('__ndImportMetaUrl') ? "var __ndImportMetaUrl=process.getBuiltinModule('node:url').pathToFileURL(__filename).href;" : ''
  const text = file.text.replace(/\brequire\((["'])(node:[\w/]+)\1\)/g, 'process.getBuiltinModule("$2")')
  return { path: file.path, contents: Buffer.from(banner + text) }
}

const maps = new Map(commandsBuild.outputFiles.filter((f) => f.path.endsWith('.map')).map((f) => [f.path, f.text]))
const commandFiles = commandsBuild.outputFiles.filter((f) => !f.path.endsWith('.map')).map((f) => eager(f, maps))
const outputs = [
  ...pinoBuild.outputFiles,
  ...dispatcherBuild.outputFiles.map(finish),
  ...commandFiles.map(finish),
  ...(noEager ? commandFiles.map((f) => functionsFile(f, finish(f))) : []),
]

// Install by rename, so a CLI running meanwhile (other builds and tests share
// this tree) never reads a half-written file; then drop what this build did
// not produce (an older layout's chunks, tsc's unused dist/cli/).
const produced = new Set()
for (const file of outputs) {
  const tmp = `${file.path}.${process.pid}.tmp`
  writeFileSync(tmp, file.contents)
  renameSync(tmp, file.path)
  produced.add(basename(file.path))
}
for (const name of readdirSync(dist)) {
  if ((name === 'cli.js' || name === 'cli.cjs' || name.startsWith('cli-')) && !produced.has(name) && !name.endsWith('.tmp')) rmSync(join(dist, name))
}
rmSync(join(dist, 'cli'), { recursive: true, force: true })
