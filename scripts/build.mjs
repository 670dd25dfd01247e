// Compiles the TypeScript (tsc) and bundles the CLI with its dependencies
// (esbuild), so the CLI loads a few files instead of resolving many modules.
//
// The CLI bundle lives directly in dist/ (dist/cli.js plus dist/cli-*.js
// chunks): src/native.ts finds the package root as the parent of its own
// directory, and code bundled from it runs from whichever chunk holds it.
// Each command is its own chunk, loaded only when that command runs. pino is
// bundled into one CommonJS file, dist/cli-pino.cjs, that the CLI requires
// only when it writes a log line.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
const bin = (name) => join(root, 'node_modules', '.bin', name)
execFileSync(bin('tsc'), ['-p', join(root, 'tsconfig.json')], { stdio: 'inherit', cwd: root })

const { build } = await import('esbuild')

// Chunks of an earlier build have other hashes: clear them first.
for (const name of readdirSync(dist)) {
  if (name === 'cli.js' || name.startsWith('cli-')) rmSync(join(dist, name))
}
// tsc's copy of the CLI is not used (the bundle is) and would resolve the
// package root wrongly from dist/cli/.
rmSync(join(dist, 'cli'), { recursive: true, force: true })

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'none',
  logLevel: 'warning',
  absWorkingDir: root,
}

await build({
  ...common,
  entryPoints: { 'cli-pino': 'pino' },
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  outdir: dist,
})

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

await build({
  ...common,
  entryPoints: { cli: join(root, 'src/cli/main.ts') },
  format: 'esm',
  splitting: true,
  chunkNames: 'cli-[name]-[hash]',
  outdir: dist,
  plugins: [pinoFromBundle],
})
