// The V8 compile cache (issue 23): the CLI uses its own, in a directory it
// checks, where Node has one (>= 22.1); a caller's NODE_COMPILE_CACHE is
// never passed on to a daemon, from the CLI or from daemonize(): a daemon,
// maybe another user's, must not run code from the caller's cache nor
// write into it. An explicit --env / env value is the caller's choice and stays.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { daemonize } from '../src/index.js'
import { fixtures } from './helpers/caller.js'
import { runCli } from './helpers/cli.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

const idle = join(fixtures, 'daemon-idle.js')

function environ(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean)
}

const cacheVars = (pid: number) => environ(pid).filter((e) => e.startsWith('NODE_COMPILE_CACHE='))

describe('hardening round 2 / issue 23: NODE_COMPILE_CACHE never reaches a daemon', () => {
  const saved = process.env.NODE_COMPILE_CACHE
  afterEach(() => {
    if (saved === undefined) delete process.env.NODE_COMPILE_CACHE
    else process.env.NODE_COMPILE_CACHE = saved
  })

  it('start from a shell that has it: the daemon has every other variable, not that one', async () => {
    const dir = scratchDir('nd-cache-')
    const env = { ...process.env, NODE_COMPILE_CACHE: join(dir, 'cache'), ND_TEST_MARK: 'kept' }
    const r = await runCli(['start', idle, '--json', '--pid-file', join(dir, 'd.pid')], env)
    expect(r.code, r.err).toBe(0)
    const pid = track((JSON.parse(r.out) as { pid: number }).pid)
    expect(environ(pid)).toContain('ND_TEST_MARK=kept')
    expect(cacheVars(pid)).toEqual([])
  })

  it('start with --env adding another variable: the inherited one is still left out', async () => {
    const dir = scratchDir('nd-cache-')
    const env = { ...process.env, NODE_COMPILE_CACHE: join(dir, 'cache') }
    const r = await runCli(['start', idle, '--json', '--pid-file', join(dir, 'd.pid'), '--env', 'ND_TEST_MARK=given'], env)
    expect(r.code, r.err).toBe(0)
    const pid = track((JSON.parse(r.out) as { pid: number }).pid)
    expect(environ(pid)).toContain('ND_TEST_MARK=given')
    expect(cacheVars(pid)).toEqual([])
  })

  it('daemonize() in a process that has it: left out; given in env: kept', async () => {
    const dir = scratchDir('nd-cache-')
    process.env.NODE_COMPILE_CACHE = join(dir, 'inherited')
    const inherited = await daemonize({ entry: idle, pidFile: join(dir, 'a.pid') })
    track(inherited.pid)
    expect(cacheVars(inherited.pid)).toEqual([])
    const given = await daemonize({ entry: idle, pidFile: join(dir, 'b.pid'), env: { PATH: process.env.PATH, NODE_COMPILE_CACHE: join(dir, 'given') } })
    track(given.pid)
    expect(cacheVars(given.pid)).toEqual([`NODE_COMPILE_CACHE=${join(dir, 'given')}`])
  })
})
