// remove NAME [--logs] (issue 23): stop the named daemon if it runs, then
// forget the name — spec, pid, state and lock files — so that list no
// longer shows it; --logs its log too, and a service user's per-name log
// directory once empty, never following or trusting what that user put
// there. Real CLI, real daemons (judged by /proc and their locks), real
// `nobody`; root's standard directories under a per-test root.
import { spawnSync } from 'node:child_process'
import { setTimeout as delay } from 'node:timers/promises'
import { chmodSync, chownSync, closeSync, copyFileSync, existsSync, fstatSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { native, type UserEntry } from '../src/native.js'
import { holdNameLock, nameLockPath } from '../src/names/lock.js'
import { fixtures } from './helpers/caller.js'
import { runCli as cli } from './helpers/cli.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { untilLine } from './helpers/files.js'
import { type NamesRoot, startNamed, useNamesRoot } from './helpers/names.js'
import { isAlive } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()
const names = useNamesRoot()

const entry = join(fixtures, 'lifecycle-hup.js')
const nobody = native().lookupUser('nobody') as UserEntry
const asNobodyIds = { uid: nobody.uid, gid: nobody.gid }

/** Run a shell command as the service user (what it can do to its own directory). */
function asNobody(command: string): void {
  const r = spawnSync('sh', ['-c', command], { ...asNobodyIds, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`as nobody: ${command}: ${r.stderr}`)
}

/** Every file a name has in the standard directories (pid, lock, state, spec, name lock). */
function nameFiles(r: NamesRoot, name: string): string[] {
  return [
    join(r.run, `${name}.pid`),
    join(r.run, `${name}.pid.lock`),
    join(r.run, `${name}.pid.state`),
    join(r.specs, `${name}.json`),
    join(r.specs, `${name}.lock`),
  ]
}

async function listNames(env: NodeJS.ProcessEnv, as?: { uid: number; gid: number }): Promise<string[]> {
  const res = await cli(['list', '--json'], env, [], as)
  expect(res.code, res.err).toBe(0)
  return (JSON.parse(res.out) as { name: string }[]).map((e) => e.name)
}

async function remove(env: NodeJS.ProcessEnv, args: string[], as?: { uid: number; gid: number }) {
  const res = await cli(['remove', ...args, '--json'], env, [], as)
  return { ...res, json: res.out === '' ? undefined : (JSON.parse(res.out) as Record<string, unknown>) }
}

describe('remove NAME (issue 23)', () => {
  it('stops a running supervised daemon, then forgets the name: its pids gone, its files gone, list empty; the log stays', async () => {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'web', '--respawn'], r.env)
    const daemon = result.pid as number
    const supervisor = result.supervisorPid as number
    await untilLine(result.logFile as string, `pid ${daemon}: up`)
    expect(await listNames(r.env)).toEqual(['web'])
    for (const f of [join(r.run, 'web.pid'), join(r.specs, 'web.json')]) expect(existsSync(f), f).toBe(true)

    const res = await remove(r.env, ['web'])
    expect(res.code, res.err).toBe(0)
    expect(res.json).toMatchObject({ name: 'web', wasRunning: true, pid: supervisor, left: [] })
    await untilGone(supervisor)
    await untilGone(daemon)
    for (const f of nameFiles(r, 'web')) expect(existsSync(f), f).toBe(false)
    expect(await listNames(r.env)).toEqual([])
    // Without --logs the log is kept.
    expect(existsSync(result.logFile as string)).toBe(true)
    expect((await cli(['status', 'web'], r.env)).code).toBe(3)
  })

  it('forgets a stopped one; an unknown name is ENOENT (exit 1), no name a usage error (exit 2)', async () => {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'idle'], r.env)
    expect((await cli(['stop', 'idle'], r.env)).code).toBe(0)
    await untilGone(result.pid as number)
    const res = await remove(r.env, ['idle', '--logs'])
    expect(res.code, res.err).toBe(0)
    expect(res.json).toMatchObject({ name: 'idle', wasRunning: false, left: [] })
    expect(res.json?.removed).toEqual(expect.arrayContaining([join(r.specs, 'idle.json'), join(r.logs, 'idle.log')]))
    for (const f of [...nameFiles(r, 'idle'), join(r.logs, 'idle.log')]) expect(existsSync(f), f).toBe(false)
    expect(await listNames(r.env)).toEqual([])

    const again = await remove(r.env, ['idle'])
    expect(again.code).toBe(1)
    expect(again.json).toMatchObject({ ok: false, command: 'remove', error: { stage: 'spec', code: 'ENOENT', path: join(r.specs, 'idle.json') } })
    // An unknown name leaves nothing behind (not even a name lock).
    expect(readdirSync(r.specs)).toEqual([])
    const none = await cli(['remove'], r.env)
    expect(none.code).toBe(2)
    expect(none.err).toMatch(/^node-daemonize remove: which daemon\? give its NAME\nTry 'node-daemonize remove --help'/)
  })
})

describe('remove NAME --logs leaves what is not its log (issue 23)', () => {
  it('a hard link put in place of the log is left, and what it links to untouched', async () => {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'linked'], r.env)
    expect((await cli(['stop', 'linked'], r.env)).code).toBe(0)
    await untilGone(result.pid as number)
    const log = join(r.logs, 'linked.log')
    const outside = join(r.top, 'precious')
    writeFileSync(outside, 'keep me\n')
    unlinkSync(log)
    linkSync(outside, log)
    const res = await remove(r.env, ['linked', '--logs'])
    expect(res.code, res.err).toBe(0)
    expect(res.json?.left).toEqual([{ path: log, why: 'it has 2 links' }])
    expect(res.out).toMatch(/left .*linked\.log: it has 2 links/)
    expect(readFileSync(outside, 'utf8')).toBe('keep me\n')
    expect(statSync(outside).nlink).toBe(2)
    for (const f of nameFiles(r, 'linked')) expect(existsSync(f), f).toBe(false)
  })
})

describe('remove NAME and a concurrent start NAME (issue 23)', () => {
  // Start first (negative offsets) or remove first, by a few ms to a few
  // hundred: a start that gets the name's lock first is refused (the name
  // runs) or, for a stopped name, starts and is then removed; one that
  // waits for the remove starts afresh and saves its spec. Either way a
  // daemon runs exactly when its spec is there.
  async function round(r: NamesRoot, offset: number): Promise<void> {
    const pidFile = join(r.run, 'race.pid')
    const starting = async () => {
      if (offset > 0) await delay(offset)
      return cli(['start', entry, '--name', 'race', '--json'], r.env)
    }
    const removing = async () => {
      if (offset < 0) await delay(-offset)
      return remove(r.env, ['race'])
    }
    const [st, rm] = await Promise.all([starting(), removing()])
    const started = st.code === 0 ? track(JSON.parse(st.out).pid as number) : undefined
    expect(rm.code, rm.err).toBe(0)
    if (st.code !== 0) expect(st.err).toMatch(/already running/)
    // Running is the pid file's lock held (status by pid file, not by name); then, and only then, its spec is there.
    const running = (await cli(['status', '--pid-file', pidFile], r.env)).code === 0
    expect({ offset, running, spec: existsSync(join(r.specs, 'race.json')) }).toEqual({ offset, running, spec: running })
    if (started !== undefined && !running) await untilGone(started)
    if (running) {
      const again = await remove(r.env, ['race'])
      expect(again.code, again.err).toBe(0)
      await untilGone(started as number)
    }
    expect(await listNames(r.env)).toEqual([])
  }

  it('never leave a daemon running without a spec: a running name', async () => {
    const r = names()
    for (const offset of [-100, -20, 0, 30, 150]) {
      const { result } = await startNamed([entry, '--name', 'race'], r.env)
      await untilLine(result.logFile as string, `pid ${result.pid as number}: up`)
      await round(r, offset)
      await untilGone(result.pid as number)
    }
  })

  it('never leave a daemon running without a spec: a stopped name', async () => {
    const r = names()
    for (const offset of [-100, -20, 0, 30, 150]) {
      const { result } = await startNamed([entry, '--name', 'race'], r.env)
      expect((await cli(['stop', 'race'], r.env)).code).toBe(0)
      await untilGone(result.pid as number)
      await round(r, offset)
    }
  })
})

describe('the name lock a remove unlinks while it holds it (issue 23)', () => {
  it('a start that opened the old file locks the one at the path, not the unlinked one', async () => {
    const dir = scratchDir('nd-namelock-')
    const path = nameLockPath(dir, 'x')
    const first = await holdNameLock(dir, 'x')
    // Opens the same file, and waits for its lock.
    const waiting = holdNameLock(dir, 'x')
    await delay(50)
    // What remove does last: unlink the lock file while holding it, then release it.
    unlinkSync(path)
    closeSync(first)
    const second = await waiting
    try {
      // Was: the lock on the unlinked file (no file at the path, so a third start would lock a new one beside it).
      const held = fstatSync(second)
      const at = statSync(path)
      expect({ dev: held.dev, ino: held.ino }).toEqual({ dev: at.dev, ino: at.ino })
      expect(held.nlink).toBe(1)
    } finally {
      closeSync(second)
    }
  })
})

describe('remove NAME --logs of a daemon run as a service user (issue 23)', () => {
  async function startService(r: NamesRoot): Promise<{ pid: number; dir: string; log: string }> {
    const { result } = await startNamed([entry, '--name', 'svc', '--user', 'nobody'], r.env)
    const dir = join(r.logs, 'svc')
    const log = join(dir, 'svc.log')
    expect(result.logFile).toBe(log)
    await untilLine(log, `pid ${result.pid as number}: up`)
    return { pid: result.pid as number, dir, log }
  }

  it('removes its log and its emptied per-name directory', async () => {
    const r = names()
    const { pid, dir, log } = await startService(r)
    const res = await remove(r.env, ['svc', '--logs'])
    expect(res.code, res.err).toBe(0)
    await untilGone(pid)
    expect(res.json).toMatchObject({ wasRunning: true, left: [] })
    expect(res.json?.removed).toEqual(expect.arrayContaining([log, dir]))
    expect(existsSync(dir)).toBe(false)
    expect(readdirSync(r.logs)).toEqual([])
    for (const f of nameFiles(r, 'svc')) expect(existsSync(f), f).toBe(false)
  })

  it('leaves the directory when the service user put a file in it, and never follows a symbolic link put in place of the log', async () => {
    const r = names()
    const { pid, dir, log } = await startService(r)
    expect((await cli(['stop', 'svc'], r.env)).code).toBe(0)
    await untilGone(pid)
    // Outside the directory, a file the link points to (root's, in root's tree).
    const outside = join(r.top, 'precious')
    writeFileSync(outside, 'keep me\n')
    asNobody(`echo mine > '${dir}/other.txt' && rm '${log}' && ln -s '${outside}' '${log}'`)

    const res = await remove(r.env, ['svc', '--logs'])
    expect(res.code, res.err).toBe(0)
    expect(res.json?.left).toEqual([
      { path: log, why: expect.stringMatching(/symbolic link/) },
      { path: dir, why: expect.stringMatching(/not empty/) },
    ])
    expect(readFileSync(outside, 'utf8')).toBe('keep me\n')
    expect(readFileSync(join(dir, 'other.txt'), 'utf8')).toBe('mine\n')
    expect(readdirSync(dir).sort()).toEqual(['other.txt', 'svc.log'])
    // The name itself is gone all the same.
    for (const f of nameFiles(r, 'svc')) expect(existsSync(f), f).toBe(false)
    expect(await listNames(r.env)).toEqual([])
  })

  it('refuses a per-name log directory the service user opened to others, before stopping anything', async () => {
    const r = names()
    const { pid, dir } = await startService(r)
    asNobody(`chmod 0777 '${dir}'`)
    const res = await remove(r.env, ['svc', '--logs'])
    expect(res.code).toBe(1)
    expect(res.json).toMatchObject({ error: { stage: 'remove', code: 'EPERM', path: dir } })
    expect(isAlive(pid)).toBe(true)
    expect(existsSync(join(r.specs, 'svc.json'))).toBe(true)
    expect(await listNames(r.env)).toEqual(['svc'])
  })
})

describe('remove NAME as a user other than root (issue 23)', () => {
  function userEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH, HOME: home, ...extra }
  }

  function nobodyHome(): string {
    const home = scratchDir('nd-home-')
    chownSync(home, nobody.uid, nobody.gid)
    return home
  }

  it('removes its own running daemon and its files, log included', async () => {
    const home = nobodyHome()
    const env = userEnv(home)
    const started = await cli(['start', entry, '--name', 'mine', '--json'], env, [], asNobodyIds)
    expect(started.code, started.err).toBe(0)
    const out = JSON.parse(started.out)
    track(out.pid)
    const base = join(home, '.local', 'state', 'node-daemonize')
    await untilLine(join(base, 'log', 'mine.log'), `pid ${out.pid}: up`)
    const res = await remove(env, ['mine', '--logs'], asNobodyIds)
    expect(res.code, res.err).toBe(0)
    expect(res.json).toMatchObject({ wasRunning: true, pid: out.pid, left: [] })
    await untilGone(out.pid)
    for (const d of ['run', 'specs', 'log']) expect(readdirSync(join(base, d)), d).toEqual([])
    expect(await listNames(env, asNobodyIds)).toEqual([])
  })

  it('never reaches another user\'s name: root does not see a user\'s, a user is refused root\'s', async () => {
    const r = names()
    const home = nobodyHome()
    const env = userEnv(home)
    const started = await cli(['start', entry, '--name', 'theirs', '--json'], env, [], asNobodyIds)
    expect(started.code, started.err).toBe(0)
    const out = JSON.parse(started.out)
    track(out.pid)
    const specs = join(home, '.local', 'state', 'node-daemonize', 'specs')
    // Root's names are the system's: the user's is not one of them.
    const byRoot = await remove(r.env, ['theirs'])
    expect(byRoot.code).toBe(1)
    expect(byRoot.json).toMatchObject({ error: { stage: 'spec', code: 'ENOENT' } })
    expect(isAlive(out.pid)).toBe(true)
    expect(readdirSync(specs).sort()).toEqual(['theirs.json', 'theirs.lock'])

    // A user pointed at root's names (a state home whose specs directory is root's, with root's spec in it): refused, nothing touched.
    const { result } = await startNamed([entry, '--name', 'sys'], r.env)
    const sysState = join(r.top, 'state')
    const sysSpecs = join(sysState, 'node-daemonize', 'specs')
    mkdirSync(sysSpecs, { recursive: true, mode: 0o755 })
    copyFileSync(join(r.specs, 'sys.json'), join(sysSpecs, 'sys.json'))
    chmodSync(join(sysSpecs, 'sys.json'), 0o644)
    const res = await remove(userEnv(home, { XDG_STATE_HOME: sysState }), ['sys'], asNobodyIds)
    expect(res.code).toBe(1)
    expect(res.json).toMatchObject({ error: { code: 'EPERM', path: sysSpecs } })
    expect(readdirSync(sysSpecs)).toEqual(['sys.json'])
    expect(isAlive(result.pid as number)).toBe(true)
    expect(await listNames(r.env)).toEqual(['sys'])
    expect((await cli(['stop', 'theirs'], env, [], asNobodyIds)).code).toBe(0)
    await untilGone(out.pid)
  })
})
