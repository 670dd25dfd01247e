#!/usr/bin/env node
// The node-daemonize command: the bundled CLI (dist/cli.cjs) does the work.
// CommonJS (bin/package.json), so that Node never sets up its ES module
// loader for a command whose start-up is part of its speed.
'use strict'
require('../dist/cli.cjs')
  .main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code
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
