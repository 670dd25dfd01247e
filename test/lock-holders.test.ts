// A lock that outlives the pid its pid file names (hardening round 2,
// defect 7): a daemon hands its lock fd to a detached child, or passes it
// to another user's process with SCM_RIGHTS, and exits. stop and restart
// find the processes that hold the lock and stop those of the service's
// recorded uid, then reclaim the files; a holder of another uid is refused
// and named, a launch in progress is never signalled, and a process that
// does not hold the lock is never signalled. As root, the service user
// nobody, through the real CLI.
import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { native } from '../src/native.js'
import { fixtures } from './helpers/caller.js'
import { type CliRun, runCli } from './helpers/cli.js'
import { cleanUpDaemons, killChildren, track, untilGone } from './helpers/daemons.js'
import { isAlive, procStatus } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'
import { until } from './helpers/wait.js'

cleanUpScratchDirs()
cleanUpDaemons()

const nobody = native().lookupUser('nobody')
const asRoot = process.getuid?.() === 0 && nobody !== null
const handsOff = join(fixtures, 'daemon-hands-off-lock.cjs')
const children: ChildProcess[] = []

/** A directory nobody can reach (0755), with out/ that nobody owns. */
function workDir(): { dir: string; out: string } {
  const dir = scratchDir('nd-holders-')
  chmodSync(dir, 0o755)
  const out = join(dir, 'out')
  mkdirSync(out, { mode: 0o755 })
  chownSync(out, nobody!.uid, nobody!.gid)
  return { dir, out }
}

/** The pid a fixture wrote into `file`, once it is there, tracked for clean-up. */
async function pidIn(file: string): Promise<number> {
  const pid = await until(`a pid in ${file}`, () => {
    const t = existsSync(file) ? readFileSync(file, 'utf8') : ''
    return t.endsWith('\n') ? Number(t) : undefined
  })
  return track(pid)
}

/** A child process of the test, spawned as `as` (default: root), killed after the test. */
function bystander(args: string[], as?: { uid: number; gid: number }): ChildProcess {
  const c = spawn(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], ...as })
  children.push(c)
  return c
}

async function cli(args: string[]): Promise<CliRun> {
  return runCli(args)
}

function json(r: CliRun): Record<string, unknown> {
  return JSON.parse(r.out.trim().split('\n').at(-1) as string) as Record<string, unknown>
}

describe.skipIf(!asRoot)('a lock handed to a detached child by a daemon running as nobody', () => {
  it('start refuses; status names the holder; stop ends it and reclaims the files, then start works; restart does the same; nothing else is signalled', async () => {
    const { dir, out } = workDir()
    const pidFile = join(dir, 'h.pid')
    const lock = `${pidFile}.lock`
    const start = (n: number) =>
      cli(['start', handsOff, '--pid-file', pidFile, '--log-file', join(dir, 'h.log'), '--user', 'nobody', '--startup-grace', '0', '--json', '--', join(out, `child.${n}`)])
    // A process of the service's user that does not hold the lock, and a
    // root process that has the lock file open (its own open: not the lock).
    const sleeper = bystander(['sleep', '600'], { uid: nobody!.uid, gid: nobody!.gid })
    try {
      const first = await start(1)
      expect(first.code, first.err).toBe(0)
      const daemon = track(json(first).pid as number)
      const child = await pidIn(join(out, 'child.1'))
      await untilGone(daemon)
      expect(procStatus(child).Uid.split(/\s+/)[0]).toBe(String(nobody!.uid))
      const opener = bystander(['python3', '-c', `import signal; f = open(${JSON.stringify(lock)}, 'rb'); print('open', flush=True); signal.pause()`])
      await new Promise((r) => opener.stdout!.once('data', r))

      const again = await start(9)
      expect(again.code).toBe(1)
      expect(again.err).toMatch(/already running/)

      const st = await cli(['status', '--pid-file', pidFile, '--json'])
      expect(st.code).toBe(1)
      expect(json(st)).toMatchObject({ state: 'dead', code: 1, pid: daemon, survivors: [child], lockHolders: [child] })
      expect(json(st).message).toBe(
        `dead: pid file ${pidFile} names pid ${daemon}, which no longer holds its lock; pid ${child} (sleep, nobody (uid ${nobody!.uid})) holds it (stop ends it)`,
      )

      const stopped = await cli(['stop', '--pid-file', pidFile])
      expect(stopped.code, stopped.err).toBe(0)
      expect(stopped.out.trim()).toBe(
        `pid ${daemon} named in ${pidFile} no longer held its lock: stopped pid ${child}, which held it (SIGTERM); removed ${pidFile}`,
      )
      await untilGone(child)
      expect(existsSync(pidFile) || existsSync(lock)).toBe(false)
      // never signalled: nobody's process that does not hold the lock, root's that has the file open
      expect(isAlive(sleeper.pid!)).toBe(true)
      expect(isAlive(opener.pid!)).toBe(true)

      // start works again, and restart stops the new holder the same way
      const second = await start(2)
      expect(second.code, second.err).toBe(0)
      track(json(second).pid as number)
      const child2 = await pidIn(join(out, 'child.2'))
      const restarted = await cli([
        'restart', handsOff, '--pid-file', pidFile, '--log-file', join(dir, 'h.log'), '--user', 'nobody', '--startup-grace', '0', '--', join(out, 'child.3'),
      ])
      expect(restarted.code, restarted.err).toBe(0)
      expect(restarted.out).toContain(`stopped pid ${child2}, which held it`)
      await untilGone(child2)
      const child3 = await pidIn(join(out, 'child.3'))
      const last = await cli(['stop', '--pid-file', pidFile])
      expect(last.code, last.err).toBe(0)
      await untilGone(child3)
      expect(isAlive(sleeper.pid!)).toBe(true)
    } finally {
      await killChildren(children)
    }
  })
})

describe.skipIf(!asRoot)('a daemon that handed its lock to a child and closed its own copy, running on', () => {
  it('stop ends the holder and the daemon itself (its start time and uid match the launch record)', async () => {
    const { dir, out } = workDir()
    const pidFile = join(dir, 's.pid')
    const r = await cli([
      'start', handsOff, '--pid-file', pidFile, '--log-file', join(dir, 's.log'), '--user', 'nobody', '--startup-grace', '0', '--json', '--',
      join(out, 'child'), 'stay',
    ])
    expect(r.code, r.err).toBe(0)
    const daemon = track(json(r).pid as number)
    const child = await pidIn(join(out, 'child'))
    const stopped = await cli(['stop', '--pid-file', pidFile])
    expect(stopped.code, stopped.err).toBe(0)
    expect(stopped.out.trim()).toBe(
      `pid ${daemon} named in ${pidFile} no longer held its lock: stopped pid ${child}, which held it and the daemon itself (pid ${daemon}), which still ran without it (SIGTERM); removed ${pidFile}`,
    )
    await untilGone(child)
    await untilGone(daemon)
  })

  // Hardening round 2 (what a new start does with the survivors of the
  // previous one): once the child lets go of the lock too, the lock is free
  // while the recorded daemon runs on. A start would overwrite the launch
  // record that names it, and run a second copy beside it: refused.
  it('once nothing holds the lock, start refuses while the daemon runs on; stop ends it, then start works', async () => {
    const { dir, out } = workDir()
    const pidFile = join(dir, 'f.pid')
    const start = (n: number) =>
      cli(['start', handsOff, '--pid-file', pidFile, '--log-file', join(dir, 'f.log'), '--user', 'nobody', '--startup-grace', '0', '--json', '--', join(out, `child.${n}`), 'stay'])
    const first = await start(1)
    expect(first.code, first.err).toBe(0)
    const daemon = track(json(first).pid as number)
    const child = track(await pidIn(join(out, 'child.1')))
    process.kill(child, 'SIGKILL')
    await untilGone(child)

    const st = await cli(['status', '--pid-file', pidFile, '--json'])
    expect(st.code).toBe(1)
    expect(json(st)).toMatchObject({ state: 'dead', pid: daemon, survivors: [daemon] })
    const again = await start(2)
    if (again.code === 0) {
      // (not to be left running if it is not refused)
      track(json(again).pid as number)
      track(await pidIn(join(out, 'child.2')))
    }
    expect(again.code).toBe(1)
    expect(again.err).toContain(`not started: pid ${daemon} of the service still runs without holding its lock; stop ends it (or restart)`)
    expect(JSON.parse(again.out)).toMatchObject({ ok: false, error: { code: 'EBUSY', stage: 'pidfile', pid: daemon } })
    expect(isAlive(daemon)).toBe(true)
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(daemon))

    const stopped = await cli(['stop', '--pid-file', pidFile])
    expect(stopped.code, stopped.err).toBe(0)
    await untilGone(daemon)
    const third = await start(3)
    expect(third.code, third.err).toBe(0)
    track(json(third).pid as number)
    track(await pidIn(join(out, 'child.3')))
    expect((await cli(['stop', '--pid-file', pidFile])).code).toBe(0)
  })
})

describe.skipIf(!asRoot)('a lock passed with SCM_RIGHTS to a process of another uid', () => {
  it('stop refuses, names the holder and its user, and signals nothing; status says the same', async () => {
    const { dir, out } = workDir()
    const pidFile = join(dir, 'p.pid')
    const sock = join(out, 'fd.sock')
    // root's process, receiving whatever fd is sent to its socket
    const receiver = bystander(['python3', join(fixtures, 'fd-receiver.py'), sock])
    let said = ''
    receiver.stdout!.setEncoding('utf8').on('data', (s: string) => (said += s))
    try {
      await until('the receiver to listen', () => said.includes('listening'))
      const r = await cli([
        'start', join(fixtures, 'daemon-passes-lock.py'), '--exec-path', '/usr/bin/python3', '--no-preload', '--pid-file', pidFile,
        '--user', 'nobody', '--startup-grace', '0', '--json', '--', sock,
      ])
      expect(r.code, r.err).toBe(0)
      const daemon = track(json(r).pid as number)
      await until('the receiver to hold the lock fd', () => said.includes('got'))
      await untilGone(daemon)

      const stopped = await cli(['stop', '--pid-file', pidFile])
      expect(stopped.code).toBe(1)
      const lines = stopped.err.trim().split('\n')
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain(`pid file ${pidFile} names pid ${daemon}, which no longer holds ${pidFile}.lock`)
      expect(lines[0]).toContain(`its lock is held by pid ${receiver.pid} (python3, root (uid 0)), not by the service's user nobody (uid ${nobody!.uid})`)
      expect(lines[0]).toContain('nothing was signalled')
      expect(isAlive(receiver.pid!)).toBe(true)
      expect(existsSync(pidFile)).toBe(true)

      const st = await cli(['status', '--pid-file', pidFile, '--json'])
      expect(st.code).toBe(1)
      expect(json(st)).toMatchObject({ state: 'dead', lockHolders: [receiver.pid] })
      expect(json(st).survivors).toBeUndefined()
      expect(json(st).message).toContain(`pid ${receiver.pid} (python3, root (uid 0)), not by the service's user`)
    } finally {
      await killChildren(children)
    }
  })
})

describe.skipIf(!asRoot)('a start in progress, whose launcher holds the lock', () => {
  it.each([
    ['as nobody', ['--user', 'nobody']],
    ['as root: the launcher runs as the service user', []],
  ])('is never signalled by stop (%s): it refuses, and the launch goes on', async (_, user) => {
    const { dir, out } = workDir()
    const pidFile = join(dir, 'w.pid')
    // The daemon hands its lock to a child and closes its own copy, then
    // never calls ready(): the launcher waits, holding the lock and the pid file.
    const launcher = bystander([
      process.execPath, join(fixtures, '..', '..', 'bin', 'node-daemonize.js'), 'start', handsOff, '--pid-file', pidFile,
      '--log-file', join(dir, 'w.log'), ...user, '--wait-ready', '60s', '--', join(out, 'child'), 'stay',
    ])
    try {
      const child = await pidIn(join(out, 'child'))
      const daemon = await until('the pid file to name the daemon', () => {
        const t = existsSync(pidFile) ? readFileSync(pidFile, 'utf8') : ''
        return t.endsWith('\n') ? track(Number(t)) : undefined
      })
      const stopped = await cli(['stop', '--pid-file', pidFile])
      expect(stopped.code).toBe(1)
      expect(stopped.err).toContain(`pid ${launcher.pid} (node`)
      expect(stopped.err).toContain('has the pid file open for writing: a start or stop of it is in progress; try again; nothing was signalled')
      for (const p of [launcher.pid!, daemon, child]) expect(isAlive(p)).toBe(true)
      // the launch ends as it would have: the daemon dies in its window, the launcher fails and cleans up
      process.kill(daemon, 'SIGKILL')
      await until('the launcher to exit', () => launcher.exitCode !== null)
      expect(launcher.exitCode).toBe(1)
      expect(existsSync(pidFile)).toBe(false)
    } finally {
      await killChildren(children)
    }
  })
})
