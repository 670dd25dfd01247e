// Builds the exec shim the tests use to see a daemon's state at the moment
// of exec (a Node daemon resets signals and marks fds 3-19 close-on-exec
// at its own start-up, which would hide what the launcher did).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export default function setup(): void {
  // The native pair from a local build, or (a run without build/, as under
  // arm64 emulation in CI) the prebuild for this platform.
  const nativeDirs = ['build/Release', `prebuilds/${process.platform}-${process.arch}`]
  const hasNative = nativeDirs.some((d) => ['node_daemonize.node', 'node-daemonize-helper'].every((f) => existsSync(join(root, d, f))))
  if (!hasNative) throw new Error(`no addon and helper in ${nativeDirs.join(' or ')}: run npm install (or npm run build) first`)
  if (!existsSync(join(root, 'dist/daemon/preload.cjs'))) throw new Error('dist/daemon/preload.cjs is missing: run npm install (or npm run build) first')
  build('build/test/exec-shim', ['test/fixtures/exec-shim.c'])
  build('build/test/fd-moves-driver', ['test/fixtures/fd-moves-driver.c', 'native/fd_moves.c', 'native/fd_moves.h'])
  build('build/test/policy-driver', ['test/fixtures/policy-driver.c', 'native/supervise_policy.c', 'native/supervise_policy.h'])
  build('build/test/text-driver', ['test/fixtures/text-driver.c', 'native/text.c', 'native/text.h'])
}

/** Compile test-only C programs when a source is newer than the binary. */
function build(output: string, sources: string[]): void {
  const out = join(root, output)
  const srcs = sources.map((s) => join(root, s))
  if (!existsSync(out) || srcs.some((s) => statSync(out).mtimeMs < statSync(s).mtimeMs)) {
    mkdirSync(dirname(out), { recursive: true })
    execFileSync('cc', ['-O2', '-Wall', '-o', out, ...srcs.filter((s) => s.endsWith('.c'))], { stdio: 'inherit' })
  }
}
