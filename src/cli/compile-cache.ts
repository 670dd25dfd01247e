// The V8 compile cache for the CLI's own files, where Node offers one
// (module.enableCompileCache, Node >= 22.1): a command then loads its
// files' compiled code instead of parsing and compiling them again.
//
// V8 runs what that cache holds as trusted code, so it lives only in a
// directory of the caller's own that passes the rule of the standard
// directories (files/state-dirs.ts: every component owned by root or the
// caller and writable by nobody else), created 0700 when missing:
// compileCacheDir() in names/paths.ts. A cache that NODE_COMPILE_CACHE
// already turned on is a user's own choice and stays; as root the CLI never
// runs under an inherited one (bin/node-daemonize.js starts itself again
// without it). main() takes NODE_COMPILE_CACHE out of the environment, so
// it never reaches a daemon (options/env.ts drops it too).
import * as nodeModule from 'node:module'
import { ensureDir } from '../files/state-dirs.js'
import { compileCacheDir } from '../names/paths.js'
import type { CompileCacheModule } from './command.js'

/**
 * Turn the cache on for the files loaded from now on; without one (Node
 * 20, a directory refused), nothing changes. A bundle of its own
 * (dist/cli-compile-cache.cjs), which the dispatcher loads only where Node
 * has a compile cache: its imports (the directory rule) are in every
 * command's bundle too, and Node 20 would parse them twice for nothing.
 */
export function useCompileCache(env: NodeJS.ProcessEnv = process.env): void {
  const api = nodeModule as CompileCacheModule
  if (typeof api.enableCompileCache !== 'function' || api.getCompileCacheDir?.() !== undefined) return
  try {
    api.enableCompileCache(ensureDir(compileCacheDir(env), { mode: 0o700 }, 'name'))
  } catch {
    // A directory that is not safe, or none to be made: no cache, only slower.
  }
}

