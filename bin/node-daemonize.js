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
      process.stderr.write(`node-daemonize: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
      process.exitCode = 1
    },
  )
