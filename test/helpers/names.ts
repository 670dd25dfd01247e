// Named daemons in tests: root's standard directories under a temp dir
// (NODE_DAEMONIZE_TEST_ROOT, honoured for tests only), a fresh one per
// test, removed afterwards (scratch.ts); the daemons started there are
// tracked and stopped by pid (daemons.ts).
import { join } from 'node:path'
import { existsSync } from 'node:fs'
import { afterEach, beforeEach, expect } from 'vitest'
import { type CliRun, runCli } from './cli.js'
import { track } from './daemons.js'
import { scratchDir } from './scratch.js'

export interface NamesRoot {
  /** The temp dir standing for `/`. */
  top: string
  env: NodeJS.ProcessEnv
  run: string
  specs: string
  logs: string
}

/**
 * Call at the top of a test file, after cleanUpScratchDirs() (which removes
 * each test's root once its daemons are gone): `current()` is this test's root.
 */
export function useNamesRoot(): () => NamesRoot {
  let root: NamesRoot | undefined
  beforeEach(() => {
    // 0755 as / is: a service user must be able to reach its own log directory below it.
    const top = scratchDir('nd-names-', 0o755)
    root = {
      top,
      env: { ...process.env, NODE_DAEMONIZE_TEST_ROOT: top },
      run: join(top, 'run', 'node-daemonize'),
      specs: join(top, 'var', 'lib', 'node-daemonize'),
      logs: join(top, 'var', 'log', 'node-daemonize'),
    }
  })
  afterEach(() => {
    root = undefined
  })
  return () => {
    if (root === undefined) throw new Error('useNamesRoot: no test is running')
    return root
  }
}

/** `start --json ...`: the result, its daemon (and supervisor) tracked for clean-up. */
export async function startNamed(args: string[], env: NodeJS.ProcessEnv): Promise<{ run: CliRun; result: Record<string, unknown> }> {
  const run = await runCli(['start', '--json', ...args], env)
  if (run.code !== 0) throw new Error(`start failed (${run.code}): ${run.out}${run.err}`)
  const result = JSON.parse(run.out) as Record<string, unknown>
  track(result.pid as number)
  if (typeof result.supervisorPid === 'number') track(result.supervisorPid)
  return { run, result }
}

/** `start ENTRY --name bad FLAGS` must be refused as a usage error (exit 2, with the "Try" line) and leave no pid file. */
export async function expectStartRefused(root: NamesRoot, entry: string, flags: string[], message: RegExp): Promise<void> {
  const r = await runCli(['start', entry, '--name', 'bad', ...flags], root.env)
  expect(r.code).toBe(2)
  expect(r.err).toMatch(message)
  expect(r.err).toContain('Try')
  expect(existsSync(join(root.run, 'bad.pid'))).toBe(false)
}
