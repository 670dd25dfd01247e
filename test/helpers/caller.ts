// Runs test/fixtures/caller-launch.mjs (a daemonize() caller) in a subprocess,
// optionally from the hostile shell of test/fixtures/hostile-launch.py.
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { DaemonizeOptions } from '../../src/options/daemonize-options.js'

export const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures')
export const root = join(fixtures, '..', '..')
export const execShim = join(root, 'build', 'test', 'exec-shim')

export interface CallerResult {
  ok: boolean
  caller: { pid: number; sid: number; pgid: number }
  daemon?: { pid: number; sid: number; pgid: number; helperPid: number; stages: string[]; ready: boolean }
  error?: { message: string; stage: string; code: string; errno?: number; syscall?: string; path?: string }
  status: number | null
  output: string
}

export function runCaller(options: DaemonizeOptions, how: { hostile?: boolean; prefix?: string[]; caller?: string } = {}): CallerResult {
  // `caller`: another copy of caller-launch.mjs (in a copy of the package).
  const cmd = [process.execPath, how.caller ?? join(fixtures, 'caller-launch.mjs'), JSON.stringify(options)]
  const full = [...(how.prefix ?? []), ...(how.hostile ? ['python3', join(fixtures, 'hostile-launch.py')] : []), ...cmd]
  const r = spawnSync(full[0], full.slice(1), { encoding: 'utf8', timeout: 60_000 })
  const output = `${r.stdout}${r.stderr}`
  const line = r.stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'))
  if (!line) throw new Error(`caller printed no result (status ${r.status}):\n${output}`)
  return { ...JSON.parse(line), status: r.status, output }
}
