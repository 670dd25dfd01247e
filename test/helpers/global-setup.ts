// Builds the exec shim the tests use to see a daemon's state at the moment
// of exec (a Node daemon resets signals and marks fds 3-19 close-on-exec
// at its own start-up, which would hide what the launcher did).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export default function setup(): void {
  for (const f of ['build/Release/node_daemonize.node', 'build/Release/node-daemonize-helper', 'dist/daemon/preload.cjs']) {
    if (!existsSync(join(root, f))) throw new Error(`${f} is missing: run npm install (or npm run build) first`)
  }
  const src = join(root, 'test/fixtures/exec-shim.c')
  const out = join(root, 'build/test/exec-shim')
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(dirname(out), { recursive: true })
    execFileSync('cc', ['-O2', '-Wall', '-o', out, src], { stdio: 'inherit' })
  }
}
