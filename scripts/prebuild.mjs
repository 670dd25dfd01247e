// npm run prebuilds [-- x64 arm64]: builds the addon and the static helper for
// each Linux architecture into prebuilds/linux-<arch>/, stripped, for npm pack
// to ship (the helper linked against musl where it is installed, see
// muslLink). Each build runs in a scratch copy of binding.gyp and native/, so the
// local build/ is left alone. arm64 is cross-compiled with Debian's
// gcc-aarch64-linux-gnu and g++-aarch64-linux-gnu (skipped, with a note, when
// they are not installed, unless it was asked for by name).
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = (await import('node:module')).createRequire(import.meta.url)
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js')

const toolchains = {
  x64: { arch: 'x64', prefix: process.arch === 'x64' ? '' : 'x86_64-linux-gnu-', triple: 'x86_64-linux' },
  arm64: { arch: 'arm64', prefix: process.arch === 'arm64' ? '' : 'aarch64-linux-gnu-', triple: 'aarch64-linux' },
}
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

/**
 * Link build/Release/node-daemonize-helper in work again, from the helper's
 * sources in binding.gyp, as a static PIE against musl (its libc.a, start
 * files and headers from Debian's musl-dev for the architecture; the kernel's
 * uapi headers from the toolchain). Returns false when musl is not there.
 */
function muslLink(tc, work) {
  const cc = `${tc.prefix}gcc`
  const lib = `/usr/lib/${tc.triple}-musl`
  const inc = `/usr/include/${tc.triple}-musl`
  const gnu = `${tc.triple}-gnu`
  // The kernel's headers: the host's for its own architecture, the cross
  // toolchain's for another.
  const kernel = [
    { asm: `/usr/include/${gnu}/asm`, top: '/usr/include' },
    { asm: `/usr/${gnu}/include/asm`, top: `/usr/${gnu}/include` },
  ].find((k) => existsSync(k.asm) && existsSync(join(k.top, 'linux')))
  if (![`${lib}/libc.a`, `${lib}/rcrt1.o`, `${inc}/stdlib.h`].every((f) => existsSync(f)) || kernel === undefined) return false
  const headers = join(work, 'musl-kernel-headers')
  mkdirSync(headers)
  // asm/ is the architecture's; linux/ and asm-generic/ are in the top
  // include directory (/usr/include, or the cross toolchain's).
  symlinkSync(kernel.asm, join(headers, 'asm'))
  for (const d of ['linux', 'asm-generic']) symlinkSync(join(kernel.top, d), join(headers, d))
  const gyp = JSON.parse(readFileSync(join(work, 'binding.gyp'), 'utf8').replace(/#.*$/gm, ''))
  const target = gyp.targets.find((t) => t.target_name === 'node-daemonize-helper')
  const file = (f) => execFileSync(cc, [`-print-file-name=${f}`], { encoding: 'utf8' }).trim()
  const libgcc = execFileSync(cc, ['-print-libgcc-file-name'], { encoding: 'utf8' }).trim()
  execFileSync(
    cc,
    [
      ...target.cflags,
      '-fPIE',
      '-nostdinc',
      '-isystem', inc,
      '-isystem', file('include'),
      '-isystem', headers,
      '-nostdlib',
      '-static-pie',
      '-Wl,--gc-sections',
      '-o', join(work, 'build', 'Release', 'node-daemonize-helper'),
      `${lib}/rcrt1.o`, `${lib}/crti.o`, file('crtbeginS.o'),
      ...target.sources,
      `-L${lib}`, '-lc', libgcc, file('crtendS.o'), `${lib}/crtn.o`,
    ],
    { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] },
  )
  return true
}
