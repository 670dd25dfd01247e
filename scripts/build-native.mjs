// The addon and the helper from source: node-gyp, then the helper linked again
// against musl where Debian's musl-dev is installed for this architecture, as
// the prebuilds are (musl-link.mjs: its start-up, on the path of every start,
// is ~0.5 ms shorter than a static glibc's). Run by the install step where no
// prebuild serves or in a checkout (install.mjs), and by `npm run build`.
//
// A development checkout keeps node-gyp's own helper, linked statically
// against glibc, beside it (build/Release/node-daemonize-helper-glibc):
// test/helper-libc.test.ts starts daemons through it, so that the helper of a
// machine without musl is tested here too.
import { spawnSync } from 'node:child_process'
import { existsSync, renameSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { muslLink, toolchains } from './musl-link.mjs'

/** Build into root/build/Release; what went wrong, or undefined. `keepGlibc`: keep node-gyp's helper as ...-glibc. */
export function buildNative(root, { keepGlibc = false } = {}) {
  // node-gyp downloads Node's headers unless told where they are. Node's own
  // packages (the official tarballs, distribution packages with their -dev
  // headers) install them beside the binary, in <prefix>/include/node: use
  // those, so a source build works offline, unless the user's npm config
  // names a nodedir.
  const gypArgs = ['rebuild']
  const prefix = dirname(dirname(process.execPath))
  if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) {
    gypArgs.push(`--nodedir=${prefix}`)
  }
  const gyp = spawnSync('node-gyp', gypArgs, { cwd: root, stdio: 'inherit', shell: false })
  if (gyp.error || gyp.status !== 0) return `node-gyp: ${gyp.error?.message ?? `exited with ${gyp.status}`}`

  const release = join(root, 'build', 'Release')
  const helper = join(release, 'node-daemonize-helper')
  const glibc = join(release, 'node-daemonize-helper-glibc')
  const musl = join(release, 'node-daemonize-helper-musl')
  rmSync(glibc, { force: true })
  const tc = Object.values(toolchains).find((t) => t.arch === process.arch)
  let linked = false
  try {
    linked = tc !== undefined && muslLink({ ...tc, prefix: '' }, root, musl)
  } catch (err) {
    console.warn(`node-daemonize: the helper could not be linked against musl (${String(err.message).split('\n')[0]}): it stays linked statically against glibc`)
  }
  if (!linked) {
    rmSync(musl, { force: true })
    console.log('node-daemonize: the helper is linked statically against glibc (no musl-dev for this architecture)')
    return undefined
  }
  if (keepGlibc) renameSync(helper, glibc)
  renameSync(musl, helper)
  console.log('node-daemonize: the helper is linked statically against musl')
  return undefined
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..')
  const problem = buildNative(root, { keepGlibc: existsSync(join(root, '.git')) })
  if (problem !== undefined) {
    console.error(`node-daemonize: the source build failed (${problem})`)
    process.exit(1)
  }
}
