// The package's install step. The prebuilt binaries for this platform
// (prebuilds/<platform>-<arch>/) are used when the addon loads and the helper
// runs here; only if not (another architecture, musl, a damaged file), or with
// NODE_DAEMONIZE_BUILD_FROM_SOURCE=1, is it built from source with node-gyp
// (which npm provides to install scripts; a C/C++ compiler, make and python3
// are needed then). Skipping this script (--ignore-scripts) is fine wherever
// the prebuild serves: the loader finds it by itself.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildNative, helperProblem } from './build-native.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const target = `${process.platform}-${process.arch}`

/** Why the prebuild does not serve here, or undefined when it does. */
async function prebuildProblem() {
  // The package's loader decides as the install does (dist/ ships in it).
  const { isMusl } = await import('../dist/native.js')
  if (isMusl()) return 'this Node runs on musl; the prebuilt addon is a glibc build'
  const dir = join(root, 'prebuilds', target)
  if (!existsSync(join(dir, 'node_daemonize.node'))) return `no prebuild for ${target}`
  try {
    createRequire(import.meta.url)(join(dir, 'node_daemonize.node'))
  } catch (e) {
    return `the prebuilt addon does not load: ${String(e.message).split('\n')[0]}`
  }
  const broken = helperProblem(join(dir, 'node-daemonize-helper'))
  return broken === undefined ? undefined : `the prebuilt helper does not run: ${broken}`
}

// A development checkout builds from source: its tests run on build/Release,
// from the sources as they are.
const checkout = existsSync(join(root, '.git'))
const forced = process.env.NODE_DAEMONIZE_BUILD_FROM_SOURCE === '1'
const problem = forced ? 'NODE_DAEMONIZE_BUILD_FROM_SOURCE=1' : checkout ? 'a development checkout' : await prebuildProblem()
if (problem === undefined) {
  console.log(`node-daemonize: using the prebuilt binaries for ${target}`)
  process.exit(0)
}
if (process.platform !== 'linux') {
  console.error(`node-daemonize runs on Linux only, not ${process.platform}`)
  process.exit(1)
}
console.log(`node-daemonize: building from source (${problem})`)
const failed = buildNative(root, { keepGlibc: checkout })
if (failed !== undefined) {
  console.error(`node-daemonize: the source build failed (${failed}); it needs node-gyp, a C/C++ compiler, make and python3`)
  process.exit(1)
}
