// The package as a user loads it: by name, from ESM and from CommonJS
// (Node >= 20.19 can require() ESM as long as there is no top-level await).
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root } from './helpers/caller.js'

function run(args: string[]) {
  return spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' })
}

describe('package', () => {
  it('declares its engines, ESM exports and types', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
    expect(pkg.type).toBe('module')
    expect(pkg.engines.node).toBe('>=20.19')
    expect(pkg.exports['.'].types).toBe('./dist/index.d.ts')
    expect(pkg.exports['./daemon']).toBeDefined()
  })

  it('can be imported by name', () => {
    const r = run(['--input-type=module', '-e', "import { daemonize, getsid, DaemonizeError } from 'node-daemonize'; console.log(typeof daemonize, typeof getsid(), typeof DaemonizeError)"])
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toBe('function number function')
  })

  it('can be required from CommonJS', () => {
    const r = run(['-e', "const m = require('node-daemonize'); console.log(typeof m.daemonize, typeof m.getpgid)"])
    expect(r.stderr).not.toMatch(/ERR_REQUIRE_ASYNC_MODULE|Error/)
    expect(r.stdout.trim()).toBe('function function')
  })
})
