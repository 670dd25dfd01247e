// npm run prebuilds [-- x64 arm64]: builds the addon and the static helper for
// each Linux architecture into prebuilds/linux-<arch>/, stripped, for npm pack
// to ship (the helper linked against musl where it is installed, see
// musl-link.mjs). Each build runs in a scratch copy of binding.gyp and native/, so the
// local build/ is left alone. arm64 is cross-compiled with Debian's
// gcc-aarch64-linux-gnu and g++-aarch64-linux-gnu (skipped, with a note, when
// they are not installed, unless it was asked for by name).
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { muslLink, toolchains } from './musl-link.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = (await import('node:module')).createRequire(import.meta.url)
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js')

const asked = process.argv.slice(2)
const archs = asked.length > 0 ? asked : ['x64', 'arm64']

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0

let built = 0
for (const name of archs) {
  const tc = toolchains[name]
  if (!tc) throw new Error(`prebuild: unknown architecture ${name} (x64 or arm64)`)
  const cc = `${tc.prefix}gcc`
  const cxx = `${tc.prefix}g++`
  if (!has(cc) || !has(cxx)) {
    const msg = `prebuild: no ${cc}/${cxx}: linux-${name} not built (Debian: apt-get install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu)`
    if (asked.includes(name)) throw new Error(msg)
    console.warn(msg)
    continue
  }
  const work = mkdtempSync(join(tmpdir(), `nd-prebuild-${name}-`))
  try {
    copyFileSync(join(root, 'binding.gyp'), join(work, 'binding.gyp'))
    cpSync(join(root, 'native'), join(work, 'native'), { recursive: true })
    symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'))
    const env = { ...process.env, CC: cc, CXX: cxx, LINK: cxx, AR: `${tc.prefix}ar` }
    execFileSync(process.execPath, [nodeGyp, 'rebuild', `--arch=${tc.arch}`, '-j', '2'], { cwd: work, env, stdio: ['ignore', 'ignore', 'inherit'] })
    const out = join(root, 'prebuilds', `linux-${name}`)
    rmSync(out, { recursive: true, force: true })
    mkdirSync(out, { recursive: true })
    // The helper again, linked statically against musl where Debian's musl
    // is installed for the architecture: ~40 kB packed instead of ~350 kB
    // with a static glibc, and a helper that runs on musl systems too.
    const musl = muslLink(tc, work)
    if (!musl) console.warn(`prebuild: no musl for linux-${name} (Debian: apt-get install musl-tools musl-dev:${name === 'x64' ? 'amd64' : 'arm64'}): its helper links a static glibc, and the package grows by ~300 kB`)
    for (const f of ['node_daemonize.node', 'node-daemonize-helper']) {
      copyFileSync(join(work, 'build', 'Release', f), join(out, f))
      execFileSync(`${tc.prefix}strip`, ['--strip-all', join(out, f)])
    }
    console.log(`prebuild: prebuilds/linux-${name}`)
    built++
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
if (built === 0) throw new Error('prebuild: nothing was built')
