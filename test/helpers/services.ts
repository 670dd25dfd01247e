// Services started with --respawn in the tests: start through the CLI,
// read the supervisor's events and the exec shim's lines from the log, and
// stop every service (and kill whatever is left of its session) after each test.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, expect } from 'vitest'
import { stop } from '../../src/control/stop.js'
import { fixtures, root } from './caller.js'
import { killDaemon } from './daemons.js'
import { completeLines } from './files.js'
import { procStat } from './proc.js'
import { cleanUpScratchDirs, scratchDir } from './scratch.js'

export const cliPath = join(root, 'bin', 'node-daemonize.js')
export const app = join(fixtures, 'supervised-app.mjs')

export let dir: string
export const pidFiles: string[] = []
export const pids = new Set<number>()

// Stop every service a test started (through its pid file), then kill by
// pid whatever is still there: supervisors, generations, sessions.
/** Call at the top of a test file: a fresh directory per test, and every service stopped after it (then the directory removed). */
export function setUpServices(): void {
  cleanUpScratchDirs()
  beforeEach(() => {
    dir = scratchDir('nd-supervise-')
  })
  afterEach(async () => {
    for (const p of pidFiles.splice(0)) await stop(p).catch(() => {})
    const all = [...pids]
    pids.clear()
    for (const sid of new Set(all.map(sessionOf).filter((s): s is number => s !== undefined))) {
      for (const pid of sessionMembers(sid)) all.push(pid)
    }
    await Promise.all(all.map(killDaemon))
  })
}

export function sessionOf(pid: number): number | undefined {
  try {
    return procStat(pid).session
  } catch {
    return undefined
  }
}

/** Live processes of session sid, read from /proc. */
export function sessionMembers(sid: number): number[] {
  const out: number[] = []
  for (const name of readdirProc()) {
    const pid = Number(name)
    if (!Number.isInteger(pid)) continue
    try {
      const s = procStat(pid)
      if (s.session === sid && s.state !== 'Z') out.push(pid)
    } catch {
      // gone
    }
  }
  return out
}

function readdirProc(): string[] {
  return readdirSync('/proc')
}

export function cli(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 60_000, env })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, output: r.stdout + r.stderr }
}

export interface Started {
  pid: number
  sid: number
  pgid: number
  helperPid: number
  supervisorPid: number
}

/** start --respawn --json; registers the service for clean-up. */
export function startService(args: string[], pidFile: string, env?: NodeJS.ProcessEnv): Started {
  pidFiles.push(pidFile)
  const r = cli(['start', '--pid-file', pidFile, '--json', ...args], env)
  expect(r.status, r.output).toBe(0)
  const d = JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as Started
  pids.add(d.supervisorPid)
  pids.add(d.pid)
  return d
}

export interface Event {
  level: number
  time: number
  pid: number
  event: string
  msg: string
  generation?: number
  daemonPid?: number
  delayMs?: number
  uptimeMs?: number
  exitCode?: number
  signal?: string
  requester?: number
  /** With --instances: whose event it is. */
  instance?: number
  reason?: string
}

/** The log's complete lines (a line still being written is not one yet). */
export function lines(log: string): string[] {
  return completeLines(log).filter((l) => l !== '')
}

export function events(log: string): Event[] {
  return lines(log)
    .filter((l) => l.includes('"supervisor":true'))
    .map((l) => JSON.parse(l) as Event)
}

export interface Shim {
  pid: number
  ppid: number
  sid: number
  pgid: number
  ttyNr: number
  uid: number
  cwd: string
  umask: string
  sigBlk: string
  sigIgn: string
  fds: { fd: number; target: string; flags: number; cloexec: boolean }[]
}

export function shims(log: string): Shim[] {
  return lines(log)
    .filter((l) => l.startsWith('{"shim"'))
    .map((l) => JSON.parse(l) as Shim)
}

export const O_APPEND = 0o2000

/** The daemon checklist, for one generation, as its exec left it. */
export function expectCleanGeneration(s: Shim, sup: Started, log: string): void {
  expect(s.pid).not.toBe(s.sid) // not a session leader
  expect(s.sid).toBe(sup.helperPid) // the helper's new session
  expect(s.pgid).toBe(s.pid) // each generation leads its own process group, inside the session
  expect(s.ppid).toBe(sup.supervisorPid) // only its parent differs from a one-shot daemon
  expect(s.ttyNr).toBe(0)
  expect(s.cwd).toBe('/')
  expect(s.umask).toBe('0022')
  expect(s.sigBlk).toBe('0000000000000000')
  expect(s.sigIgn).toBe('0000000000000000')
  // 0 /dev/null, 1 and 2 the log (append); no lock file, no state file, nothing else
  expect(s.fds.map((f) => f.fd).sort((a, b) => a - b)).toEqual([0, 1, 2])
  const fds = Object.fromEntries(s.fds.map((f) => [f.fd, f]))
  expect(fds[0].target).toBe('/dev/null')
  expect(fds[1].target).toBe(log)
  expect(fds[2].target).toBe(log)
  expect(fds[1].flags & O_APPEND).toBe(O_APPEND)
}

