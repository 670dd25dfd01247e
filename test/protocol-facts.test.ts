// Every protocol fact has one definition on each side; this ties the two
// views together: the TypeScript tables (src/protocol.ts, the daemon-side
// contract) must equal what the addon exports from native/protocol.h.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { constants as osc } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { native } from '../src/native.js'
import { resolveLaunch } from '../src/options/resolve.js'
import { CALLER_STAGES, NATIVE_CONSTANTS, NATIVE_STAGES } from '../src/protocol.js'
import { CONTRACT_VERSION, ENV_PREFIX, STATE_KEY } from '../src/daemon/contract.cjs'
import { fixtures, root } from './helpers/caller.js'

describe('stages', () => {
  it('the native stages are protocol.h\'s, by name and id, in order', () => {
    expect(native().stages.map((s) => ({ id: s.id, name: s.name }))).toEqual(NATIVE_STAGES.map((name, i) => ({ id: i + 1, name })))
  })

  it('the caller-side stages are all distinct', () => {
    expect(new Set(CALLER_STAGES).size).toBe(CALLER_STAGES.length)
  })
})

describe('constants', () => {
  it('the addon exports exactly the constants TypeScript names, each a number', () => {
    const c = native().constants as unknown as Record<string, unknown>
    expect(Object.keys(c).sort()).toEqual([...NATIVE_CONSTANTS].sort())
    for (const name of NATIVE_CONSTANTS) expect(typeof c[name], name).toBe('number')
  })

  it('the signal bounds are the kernel\'s and glibc\'s', () => {
    const c = native().constants
    // /proc/<pid>/status prints each signal mask as one bit per signal.
    const mask = /^SigBlk:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]
    expect(mask).toBeDefined()
    expect(c.ND_SIGNAL_LAST).toBe((mask as string).length * 4)
    // The reserved pair lies between the last named (standard) signal and the real-time ones.
    const named = Math.max(...Object.values(osc.signals))
    expect(c.ND_SIGNAL_GLIBC_RESERVED_FIRST).toBe(named + 1)
    expect(c.ND_SIGNAL_GLIBC_RESERVED_LAST).toBe(c.ND_SIGNAL_GLIBC_RESERVED_FIRST + 1)
    expect(c.ND_SIGNAL_GLIBC_RESERVED_LAST).toBeLessThan(c.ND_SIGNAL_LAST)
  })

  it('the ready fd the daemon is told of is the one the helper sets up; the lock fd is below it', () => {
    const c = native().constants
    const launch = resolveLaunch({ entry: join(fixtures, 'daemon-idle.js'), waitReadyMs: 1000 })
    const env = launch.env.map(String)
    expect(env).toContain(`${ENV_PREFIX}READY_FD=${c.ND_DAEMON_FD_READY}`)
    expect(env).toContain(`${ENV_PREFIX}CONTRACT=${CONTRACT_VERSION}`)
    expect(c.ND_DAEMON_FD_LOCK).toBe(3)
    expect(c.ND_DAEMON_FD_READY).toBe(c.ND_DAEMON_FD_LOCK + 1)
  })
})

describe('the daemon-side contract', () => {
  /** Runs node-daemonize/daemon (built) under `env`; what logFile() and ready() say, and stderr. */
  function daemonSide(env: Record<string, string>) {
    const script = `import(${JSON.stringify(join(root, 'dist', 'daemon', 'index.js'))}).then((m) => console.log(JSON.stringify({ log: m.logFile() ?? null, ready: m.ready() })))`
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith(ENV_PREFIX)))
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...base, ...env }, encoding: 'utf8' })
    expect(r.status).toBe(0)
    return { ...(JSON.parse(r.stdout) as { log: string | null; ready: boolean }), stderr: r.stderr }
  }

  it('reads the variables of its own contract version', () => {
    const r = daemonSide({ [`${ENV_PREFIX}LOG_FILE`]: '/tmp/x.log', [`${ENV_PREFIX}CONTRACT`]: CONTRACT_VERSION })
    expect(r).toEqual({ log: '/tmp/x.log', ready: false, stderr: '' })
  })

  it.each([
    ['another version', { [`${ENV_PREFIX}CONTRACT`]: `${CONTRACT_VERSION}0` }],
    ['no version (a launcher from before the contract had one)', {}],
  ])('does not read variables of %s, and says so once', (_what, extra) => {
    const r = daemonSide({ [`${ENV_PREFIX}LOG_FILE`]: '/tmp/x.log', [`${ENV_PREFIX}READY_FD`]: '1', ...extra })
    expect(r.log).toBeNull()
    expect(r.ready).toBe(false)
    expect(r.stderr.match(/\[NODE_DAEMONIZE_CONTRACT\]/g)).toHaveLength(1)
    expect(r.stderr).toContain('started by another version of node-daemonize')
  })

  it('the preload keeps the variables under the contract\'s global key', () => {
    const preload = join(root, 'dist', 'daemon', 'preload.cjs')
    const script = `console.log(JSON.stringify(globalThis[Symbol.for(${JSON.stringify(STATE_KEY)})]))`
    const r = spawnSync(process.execPath, ['--require', preload, '-e', script], {
      env: { PATH: process.env.PATH ?? '', [`${ENV_PREFIX}LOG_FILE`]: '/tmp/x.log', [`${ENV_PREFIX}CONTRACT`]: CONTRACT_VERSION },
      encoding: 'utf8',
    })
    expect(JSON.parse(r.stdout)).toEqual({ LOG_FILE: '/tmp/x.log', CONTRACT: CONTRACT_VERSION })
  })
})
