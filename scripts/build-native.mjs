// The addon and the helper from source: node-gyp, then the helper linked again
// against musl where Debian's musl-dev is installed for this architecture, as
// the prebuilds are (musl-link.mjs: its start-up, on the path of every start,
// is ~0.5 ms shorter than a static glibc's). Run by the install step where no
// prebuild serves or in a checkout (install.mjs), and by `npm run build`.
//
// A development checkout keeps node-gyp's own helper, linked statically
// against glibc, beside the musl one (build/Release/node-daemonize-helper-glibc):
// test/helper-libc.test.ts starts daemons through it, so that the helper of a
// machine without musl is tested here too.
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, realpathSync, renameSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
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
  const why = relinkHelper(root, keepGlibc)
  console.log(`node-daemonize: the helper is linked statically against ${why === undefined ? 'musl' : `glibc (${why})`}`)
  return undefined
}

/**
 * Why the helper at `path` does not run here, or undefined when it does: run
 * by hand, it prints its usage and exits 2.
 */
export function helperProblem(path) {
  const r = spawnSync(path, [], { encoding: 'utf8' })
  if (r.error || r.status !== 2 || !r.stderr.startsWith('usage: node-daemonize-helper')) {
    return r.error?.message ?? `status ${r.status}, signal ${r.signal}`
  }
  return undefined
}

/**
 * node-gyp's helper (static glibc) replaced by one linked against musl, once
 * that one runs; undefined when it was, else why not (node-gyp's stays).
 */
function relinkHelper(root, keepGlibc) {
  const release = join(root, 'build', 'Release')
  const helper = join(release, 'node-daemonize-helper')
  const glibc = join(release, 'node-daemonize-helper-glibc')
  const musl = join(release, 'node-daemonize-helper-musl')
  rmSync(glibc, { force: true })
  rmSync(musl, { force: true })
  // A build for another architecture (npm's --arch) keeps node-gyp's helper.
  const arch = process.env.npm_config_arch || process.arch
  const tc = Object.values(toolchains).find((t) => t.arch === arch)
  if (arch !== process.arch || tc === undefined) return `a build for ${arch} on ${process.arch}`
  try {
    if (!muslLink({ ...tc, prefix: '' }, root, musl)) return 'no musl-dev for this architecture'
    const broken = helperProblem(musl)
    if (broken !== undefined) throw new Error(`it does not run: ${broken}`)
    if (keepGlibc) copyFileSync(helper, glibc)
    // One rename: there is a helper in build/Release at every moment.
    renameSync(musl, helper)
    return undefined
  } catch (err) {
    rmSync(musl, { force: true })
    rmSync(glibc, { force: true })
    return `the musl link failed: ${String(err.message).split('\n')[0]}`
  }
}

// Run as a script (npm run build): build this package.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..')
  const problem = buildNative(root, { keepGlibc: existsSync(join(root, '.git')) })
  if (problem !== undefined) {
    console.error(`node-daemonize: the source build failed (${problem})`)
    process.exit(1)
  }
}
