// `restart` with a typo must not take the service down (issue 9, defect 5):
// everything `start` would refuse is refused before the old daemon is
// stopped. Through the CLI, against a running daemon, checked in /proc and by
// `status`.
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { fixtures } from './helpers/caller.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { isAlive, procStat } from './helpers/proc.js'
import { runCli as cli } from './helpers/cli.js'
import { scratchDirForFile } from './helpers/scratch.js'

cleanUpDaemons()

const entry = join(fixtures, 'daemon-idle.js')
const isRoot = process.getuid?.() === 0



const dir = scratchDirForFile('nd-restart-checks-', 0o755)
/** A 0700 directory nobody cannot enter, holding a readable copy of the entry. */
const privateDir = join(dir, 'private')
beforeAll(() => {
  mkdirSync(privateDir, { mode: 0o700 })
  copyFileSync(entry, join(privateDir, 'app.js'))
  chmodSync(join(privateDir, 'app.js'), 0o644)
  writeFileSync(join(dir, 'not-executable'), '#!/bin/sh\n', { mode: 0o644 })
  spawnSync('mkfifo', [join(dir, 'fifo.log')])
  symlinkSync('/etc/passwd', join(dir, 'link.log'))
})

const nrOpen = () => Number(readFileSync('/proc/sys/fs/nr_open', 'utf8'))

/**
 * A refused restart run with --json: stderr says `node-daemonize restart: <message>` (a
 * usage error adds where help is), stdout has the one JSON error; returns
 * "stage <stage>: <message>" from it.
 */
function refusal(r: { out: string; err: string }): string {
  const { ok, command, error } = JSON.parse(r.out) as { ok: boolean; command: string; error: { stage: string; message: string } }
  expect({ ok, command }).toEqual({ ok: false, command: 'restart' })
  expect(r.err.split('\n')[0]).toBe(`node-daemonize restart: ${error.message}`)
  return `stage ${error.stage}: ${error.message}`
}

// [name, start options for the restart (after the entry), what the refusal must name, exit code]
const typos: [string, () => string[], RegExp, number][] = [
  ['a missing log directory', () => ['--log-file', join(dir, 'no-such-dir', 'app.log')], /stage log: .*no-such-dir.*ENOENT|stage log: .*ENOENT.*no-such-dir/, 1],
  ['a log path that is a symbolic link', () => ['--log-file', join(dir, 'link.log')], /stage log: .*symbolic link/, 1],
  ['a log path that is a FIFO', () => ['--log-file', join(dir, 'fifo.log')], /stage log: .*not a regular file/, 1],
  ['a missing --exec-path', () => ['--exec-path', join(dir, 'no-such-node')], /stage exec: cannot execute .*no-such-node: execve ENOENT/, 1],
  ['an --exec-path that is not executable', () => ['--exec-path', join(dir, 'not-executable')], /stage exec: cannot execute .*not-executable: execve EACCES/, 1],
  ['an --exec-path that is a directory', () => ['--exec-path', dir], /stage exec: cannot execute .*: execve EACCES/, 1],
  ['a --max-open-files above what the kernel allows', () => ['--max-open-files', String(nrOpen() + 1)], /stage rlimit: cannot set resource limits: setrlimit EPERM/, 1],
  ['a missing cwd', () => ['--cwd', join(dir, 'no-such-cwd')], /stage cwd: .*no-such-cwd/, 1],
  ['an unknown user', () => ['--user', 'no-such-user-nd'], /stage user: unknown user 'no-such-user-nd'/, 1],
  ['an invalid umask (usage)', () => ['--umask', '999'], /--umask takes an octal mode/, 2],
]

async function startOne(pidFile: string): Promise<number> {
  const r = await cli(['start', entry, '--pid-file', pidFile, '--json', '--startup-grace', '0'])
  expect(r.err).toBe('')
  expect(r.code).toBe(0)
  return track((JSON.parse(r.out) as { pid: number }).pid)
}

/** The daemon is still the one running: same pid, alive, and `status` says so. */
async function expectStillRunning(pidFile: string, pid: number): Promise<void> {
  expect(isAlive(pid)).toBe(true)
  expect(procStat(pid).state).not.toBe('Z')
  const s = await cli(['status', '--pid-file', pidFile, '--json'])
  expect(s.code).toBe(0)
  expect(JSON.parse(s.out)).toMatchObject({ pid, code: 0 })
}

describe('restart refuses what start would refuse, before stopping anything', () => {
  it.each(typos)('%s', async (_name, extra, named, code) => {
    const pidFile = join(dir, `t${Math.random().toString(36).slice(2)}.pid`)
    const pid = await startOne(pidFile)
    const r = await cli(['restart', entry, '--pid-file', pidFile, ...extra(), '--startup-grace', '0', '--json'])
    expect(r.code).toBe(code)
    expect(refusal(r)).toMatch(named)
    await expectStillRunning(pidFile, pid)
  })

  it.skipIf(!isRoot)('an entry the --user cannot read (root can)', async () => {
    const pidFile = join(dir, 'user-entry.pid')
    const pid = await startOne(pidFile)
    const r = await cli(['restart', join(privateDir, 'app.js'), '--pid-file', pidFile, '--user', 'nobody', '--startup-grace', '0', '--json'])
    expect(r.code).toBe(1)
    expect(refusal(r)).toMatch(/stage entry: the daemon cannot read its entry .*app\.js: open EACCES/)
    await expectStillRunning(pidFile, pid)
  })

  it.skipIf(!isRoot)('a cwd the --user cannot enter (root can)', async () => {
    const pidFile = join(dir, 'user-cwd.pid')
    const pid = await startOne(pidFile)
    const r = await cli(['restart', entry, '--pid-file', pidFile, '--user', 'nobody', '--cwd', privateDir, '--startup-grace', '0', '--json'])
    expect(r.code).toBe(1)
    expect(refusal(r)).toMatch(/stage chdir: cannot change directory to .*private: chdir EACCES/)
    await expectStillRunning(pidFile, pid)
  })

  it('a refused restart creates nothing: no log file', async () => {
    const pidFile = join(dir, 'no-trace.pid')
    const pid = await startOne(pidFile)
    const log = join(dir, 'never.log')
    const r = await cli(['restart', entry, '--pid-file', pidFile, '--log-file', log, '--exec-path', join(dir, 'no-such-node')])
    expect(r.code).toBe(1)
    expect(existsSync(log)).toBe(false)
    await expectStillRunning(pidFile, pid)
  })

  it('with good arguments it still restarts', async () => {
    const pidFile = join(dir, 'good.pid')
    const pid = await startOne(pidFile)
    const log = join(dir, 'fresh.log')
    const r = await cli(['restart', entry, '--pid-file', pidFile, '--log-file', log, '--json', '--startup-grace', '0'])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    const d = JSON.parse(r.out) as { pid: number; stop: { wasRunning: boolean; pid: number } }
    track(d.pid)
    expect(d.stop).toMatchObject({ wasRunning: true, pid })
    expect(d.pid).not.toBe(pid)
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(d.pid))
  })
})
