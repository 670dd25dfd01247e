#!/usr/bin/env node
// The node-daemonize command: the bundled CLI (dist/cli.cjs) does the work.
// CommonJS (bin/package.json), so that Node never sets up its ES module
// loader for a command whose start-up is part of its speed.
'use strict'
// Node >= 22.1 turns on the V8 compile cache NODE_COMPILE_CACHE names before
// any code of ours runs, and runs what that cache holds as trusted code. As
// root the CLI never runs under a cache it did not check: it starts itself
// again without the variable (its own cache is in a directory it checks:
// src/cli/compile-cache.ts). Node 20 ignores the variable.
if (process.env.NODE_COMPILE_CACHE !== undefined && process.geteuid() === 0 && require('node:module').getCompileCacheDir?.() !== undefined) {
  delete process.env.NODE_COMPILE_CACHE
  const argv = [...process.execArgv, __filename, ...process.argv.slice(2)]
  if (typeof process.execve === 'function') process.execve(process.execPath, [process.execPath, ...argv], process.env)
  const r = require('node:child_process').spawnSync(process.execPath, argv, { stdio: 'inherit' })
  process.exitCode = r.status ?? 1
} else {
  // The commands scripts run again and again go straight to their own
  // bundle, which runs them as the dispatcher would (src/cli/command.ts):
  // one file less to load. Everything else goes through the dispatcher.
  const direct = { status: 1, stop: 1, start: 1, list: 1, logs: 1 }
  const argv = process.argv.slice(2)
  const load = () => {
    if (!Object.hasOwn(direct, argv[0])) return require('../dist/cli.cjs')
    // Where Node has a compile cache (>= 22.1), the dispatcher's set-up of
    // it, before the command's bundle loads (src/cli/compile-cache.ts). Not
    // asked of Node 20, which has none: its first require('node:module')
    // builds the module's ES facade, ~0.3 ms for nothing.
    const m = Number(process.versions.node.split('.')[0]) >= 22 ? require('node:module') : {}
    if (typeof m.enableCompileCache === 'function' && m.getCompileCacheDir?.() === undefined) {
      delete process.env.NODE_COMPILE_CACHE
      require('../dist/cli-compile-cache.cjs').useCompileCache()
    }
    return require(`../dist/cli-${argv[0]}.cjs`)
  }
  // The bundle's finish(code) exits at once when nothing is left in flight
  // (src/cli/command.ts). The exit code is set first: whatever finish does,
  // the command's result stands (a started daemon is never reported failed).
  let mod
  Promise.resolve()
    .then(() => (mod = load()).main(argv))
    .then(
      (code) => {
        process.exitCode = code
        try {
          if (typeof mod.finish === 'function') mod.finish(code)
        } catch {}
      },
      (err) => {
        // A bug got past main(): one line, never a stack trace; and never an
        // exception of its own (stderr may be a closed pipe too).
        try {
          require('node:fs').writeSync(2, `node-daemonize: ${err instanceof Error ? err.message : String(err)}\n`)
        } catch {}
        process.exitCode = 1
      },
    )
}
