// Named daemons: restart by name through the saved spec, a spec trusted
// only as far as its owner, and a user other than root (its directories
// under XDG_STATE_HOME). Real daemons, judged by their pid-file lock and
// /proc. start --name and the API: names-start.test.ts.
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { native, type UserEntry } from '../src/native.js'
import { fixtures, root as repo } from './helpers/caller.js'
import { runCli as cli } from './helpers/cli.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { startNamed, useNamesRoot } from './helpers/names.js'
import { cmdline, environ, envOf, isAlive, rawCmdline } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'
import { mode } from './helpers/files.js'

cleanUpScratchDirs()
cleanUpDaemons()
const names = useNamesRoot()

const entry = join(fixtures, 'lifecycle-hup.js')
const nobody = native().lookupUser('nobody') as UserEntry

beforeAll(() => {
  if (!existsSync(join(repo, 'dist', 'cli.cjs'))) throw new Error('dist/cli.cjs is missing: run npm run build first')
})

describe('restart by name', () => {
  it('restart NAME starts it again with the saved entry, arguments and environment, bytes and all', async () => {
    const r = names()
    // Not UTF-8: Latin-1 "café" and bytes that are never UTF-8. A shell makes them (Node cannot spawn with them).
    const latin1 = Buffer.from('636166e9', 'hex')
    const invalid = Buffer.from('fffe78', 'hex')
    const octal = (b: Buffer) => [...b].map((x) => `\\${x.toString(8).padStart(3, '0')}`).join('')
    const script = `a=$(printf '${octal(latin1)}'); v=$(printf '${octal(invalid)}'); exec "$0" "$1" start "$2" --name api --json --env "RAW=$v" --env ADDED=1 -- "arg one" "$a"`
    const started = spawnSync('sh', ['-c', script, process.execPath, join(repo, 'bin', 'node-daemonize.js'), entry], {
      env: { ...r.env, SAVED_VAR: 'kept' },
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect(started.status, started.stderr).toBe(0)
    const first = track(JSON.parse(started.stdout).pid as number)
    const spec = JSON.parse(readFileSync(join(r.specs, 'api.json'), 'utf8'))
    // Stored losslessly: the bytes as base64.
    expect(spec.options.args).toEqual(['arg one', { base64: latin1.toString('base64') }])
    expect(spec.options.env.RAW).toEqual({ base64: invalid.toString('base64') })

    // The restarting shell's own environment differs: none of it may reach the daemon.
    const shell: NodeJS.ProcessEnv = { ...r.env, SAVED_VAR: 'changed', NEW_IN_SHELL: 'x' }
    const res = await cli(['restart', 'api', '--json'], shell)
    expect(res.code, res.err).toBe(0)
    const out = JSON.parse(res.out)
    const second = track(out.pid as number)
    expect(second).not.toBe(first)
    expect(out.stop).toMatchObject({ pid: first })
    await untilGone(first)
    const argv = rawCmdline(second)
    expect(argv.slice(-3)).toEqual([Buffer.from(entry), Buffer.from('arg one'), latin1])
    const e = envOf(second)
    expect(e.get('SAVED_VAR')).toBe('kept')
    expect(e.get('ADDED')).toBe('1')
    expect(e.has('NEW_IN_SHELL')).toBe(false)
    const raw = environ(second).find((b) => b.subarray(0, 4).toString() === 'RAW=')
    expect(raw?.subarray(4)).toEqual(invalid)
  })

  it('restart with new options updates the spec, and the next plain restart keeps them', async () => {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'svc', '--', 'a'], r.env)
    const res = await cli(['restart', 'svc', '--env', 'LEVEL=debug', '--umask', '027', '--json', '--', 'b', 'c'], r.env)
    expect(res.code).toBe(0)
    const second = track(JSON.parse(res.out).pid as number)
    await untilGone(result.pid as number)
    const spec = JSON.parse(readFileSync(join(r.specs, 'svc.json'), 'utf8'))
    expect(spec.options).toMatchObject({ args: ['b', 'c'], umask: 0o27 })
    expect(spec.options.env.LEVEL).toBe('debug')

    const again = await cli(['restart', 'svc', '--json'], r.env)
    expect(again.code).toBe(0)
    const third = track(JSON.parse(again.out).pid as number)
    await untilGone(second)
    expect(cmdline(third).slice(-2)).toEqual(['b', 'c'])
    expect(envOf(third).get('LEVEL')).toBe('debug')
    const umask = /^Umask:\s+(\d+)$/m.exec(readFileSync(`/proc/${third}/status`, 'utf8'))?.[1]
    expect(umask).toBe('0027')
  })

  it('restart NAME --user: that user\'s HOME and USER, and a default log in a directory it owns', async () => {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'who'], { ...r.env, HOME: '/root', USER: 'root' })
    expect(result.logFile).toBe(join(r.logs, 'who.log'))
    const res = await cli(['restart', 'who', '--user', 'nobody', '--json'], r.env)
    expect(res.code, res.err).toBe(0)
    const out = JSON.parse(res.out)
    track(out.pid)
    await untilGone(result.pid as number)
    expect(out.logFile).toBe(join(r.logs, 'who', 'who.log'))
    expect(statSync(join(r.logs, 'who')).uid).toBe(nobody.uid)
    const e = envOf(out.pid)
    expect({ HOME: e.get('HOME'), USER: e.get('USER') }).toEqual({ HOME: nobody.home, USER: 'nobody' })
    const spec = JSON.parse(readFileSync(join(r.specs, 'who.json'), 'utf8'))
    expect(spec.options).toMatchObject({ user: 'nobody', logFile: join(r.logs, 'who', 'who.log') })
  })

  it('restart NAME of a --respawn service starts a new supervisor with the saved policy', async () => {
    const r = names()
    const orders = join(r.top, 'orders')
    mkdirSync(orders)
    const app = join(fixtures, 'supervised-app.mjs')
    const { result } = await startNamed([app, '--name', 'sv', '--respawn', 'always', '--respawn-limit', '7/30s', '--', orders], r.env)
    const res = await cli(['restart', 'sv', '--json'], r.env)
    expect(res.code, res.err).toBe(0)
    const out = JSON.parse(res.out)
    track(out.pid)
    track(out.supervisorPid)
    await untilGone(result.supervisorPid as number)
    expect(out.supervisorPid).not.toBe(result.supervisorPid)
    expect(out.respawn).toMatchObject({ mode: 'always', limit: 7, windowMs: 30_000 })
    expect(cmdline(out.pid).slice(-2)).toEqual([app, orders])
    const st = await cli(['status', 'sv', '--json'], r.env)
    expect(JSON.parse(st.out)).toMatchObject({ state: 'running', pid: out.supervisorPid, supervisor: { daemonPid: out.pid } })
  })

  it('restart --pid-file FILE alone finds the spec through the index', async () => {
    const r = names()
    const pidFile = join(r.top, 'by-file.pid')
    const { result } = await startNamed([entry, '--name', 'byfile', '--pid-file', pidFile, '--', 'x'], r.env)
    const res = await cli(['restart', '--pid-file', pidFile, '--json'], r.env)
    expect(res.code).toBe(0)
    const out = JSON.parse(res.out)
    track(out.pid)
    await untilGone(result.pid as number)
    expect(out).toMatchObject({ name: 'byfile', pidFile })
    expect(cmdline(out.pid).slice(-2)).toEqual([entry, 'x'])
    // Without a spec naming it and without an entry, there is nothing to start.
    const none = await cli(['restart', '--pid-file', join(r.top, 'nothing.pid')], r.env)
    expect(none.code).toBe(2)
    expect(none.err).toMatch(/no saved spec names the pid file/)
  })
})

describe('a spec is trusted only as far as its owner', () => {
  /** wholeDir: the directory itself is refused, so list refuses as a whole (exit 1) rather than showing the one spec as unknown. */
  async function planted(how: (specPath: string, r: ReturnType<typeof names>) => void, wholeDir = false): Promise<void> {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'p'], r.env)
    const pid = result.pid as number
    const specPath = join(r.specs, 'p.json')
    how(specPath, r)
    for (const cmd of [['stop', 'p'], ['restart', 'p'], ['reload', 'p'], ['logs', 'p']]) {
      const res = await cli(cmd, r.env)
      expect({ cmd, code: res.code }).toEqual({ cmd, code: 1 })
      expect(res.err).toMatch(/refusing/)
    }
    const st = await cli(['status', 'p'], r.env)
    expect(st.code).toBe(4)
    // None of it touched the daemon.
    expect(isAlive(pid)).toBe(true)
    expect(readFileSync(join(r.run, 'p.pid'), 'utf8').trim()).toBe(String(pid))
    const listed = await cli(['list', '--json'], r.env)
    const list = JSON.parse(listed.out)
    if (wholeDir) {
      expect(listed.code).toBe(1)
      expect(list).toMatchObject({ ok: false, command: 'list', error: { code: 'EPERM', message: expect.stringMatching(/refusing/) } })
    } else {
      expect(listed.code).toBe(0)
      expect(list).toEqual([expect.objectContaining({ name: 'p', state: 'unknown', message: expect.stringMatching(/refusing/) })])
    }
  }

  it('refuses a spec owned by another user', async () => {
    await planted((p) => chownSync(p, nobody.uid, nobody.gid))
  })

  it('refuses a spec writable by group or others', async () => {
    await planted((p) => chmodSync(p, 0o620))
  })

  it('refuses a spec that is a symbolic link', async () => {
    await planted((p, r) => {
      const elsewhere = join(r.top, 'elsewhere.json')
      writeFileSync(elsewhere, readFileSync(p), { mode: 0o600 })
      rmSync(p)
      symlinkSync(elsewhere, p)
    })
  })

  it('refuses a spec that says it was written for another user', async () => {
    await planted((p) => {
      const spec = JSON.parse(readFileSync(p, 'utf8'))
      writeFileSync(p, JSON.stringify({ ...spec, uid: nobody.uid }), { mode: 0o600 })
    })
  })

  it('refuses a specs directory another user owns', async () => {
    await planted((_p, r) => chownSync(r.specs, nobody.uid, nobody.gid), true)
  })
})

describe('a user other than root', () => {
  let home: string

  function asNobody(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, ...extra }
    return env
  }

  it('keeps pid file, spec and log under ~/.local/state/node-daemonize, private to it', async () => {
    home = scratchDir('nd-home-')
    chownSync(home, nobody.uid, nobody.gid)
    const as = { uid: nobody.uid, gid: nobody.gid }
    const res = await cli(['start', entry, '--name', 'mine', '--json', '--', 'q'], asNobody(), [], as)
    expect(res.code).toBe(0)
    const out = JSON.parse(res.out)
    track(out.pid)
    const base = join(home, '.local', 'state', 'node-daemonize')
    expect(out).toMatchObject({ pidFile: join(base, 'run', 'mine.pid'), logFile: join(base, 'log', 'mine.log'), specPath: join(base, 'specs', 'mine.json') })
    for (const d of [join(home, '.local'), join(home, '.local', 'state'), base, join(base, 'run'), join(base, 'specs'), join(base, 'log')]) {
      expect({ d, uid: statSync(d).uid, mode: mode(d) }).toEqual({ d, uid: nobody.uid, mode: 0o700 })
    }
    expect(statSync(join(base, 'specs', 'mine.json'))).toMatchObject({ uid: nobody.uid, mode: 0o100600 })
    const st = await cli(['status', 'mine', '--json'], asNobody(), [], as)
    expect(JSON.parse(st.out)).toMatchObject({ state: 'running', pid: out.pid })
    // Root's names are elsewhere: root does not see it, and cannot be made to run it.
    expect((await cli(['status', 'mine'], names().env)).code).toBe(3)
    expect((await cli(['stop', 'mine'], asNobody(), [], as)).code).toBe(0)
    await untilGone(out.pid)
  })

  it('never runs a spec someone else wrote into its directory, not even root', async () => {
    home = scratchDir('nd-home-')
    chownSync(home, nobody.uid, nobody.gid)
    const as = { uid: nobody.uid, gid: nobody.gid }
    const res = await cli(['start', entry, '--name', 'own', '--json'], asNobody(), [], as)
    expect(res.code).toBe(0)
    const out = JSON.parse(res.out)
    track(out.pid)
    const specPath = join(home, '.local', 'state', 'node-daemonize', 'specs', 'own.json')
    // Readable, so that it is the owner check that refuses it (not a failed open).
    chownSync(specPath, 0, 0)
    chmodSync(specPath, 0o644)
    const restart = await cli(['restart', 'own'], asNobody(), [], as)
    expect(restart.code).toBe(1)
    expect(restart.err).toMatch(/owned by root \(uid 0\), not by nobody/)
    expect(isAlive(out.pid)).toBe(true)
  })

  it('uses $XDG_STATE_HOME when it is set (and absolute)', async () => {
    home = scratchDir('nd-home-')
    chownSync(home, nobody.uid, nobody.gid)
    const state = join(home, 'state')
    mkdirSync(state, { mode: 0o700 })
    chownSync(state, nobody.uid, nobody.gid)
    const as = { uid: nobody.uid, gid: nobody.gid }
    const res = await cli(['start', entry, '--name', 'x', '--json'], asNobody({ XDG_STATE_HOME: state }), [], as)
    expect(res.code).toBe(0)
    const out = JSON.parse(res.out)
    track(out.pid)
    expect(out.pidFile).toBe(join(state, 'node-daemonize', 'run', 'x.pid'))
    expect(existsSync(join(home, '.local'))).toBe(false)
    expect((await cli(['stop', 'x'], asNobody({ XDG_STATE_HOME: state }), [], as)).code).toBe(0)
    await untilGone(out.pid)
  })

  it('refuses a state directory that others can write to', async () => {
    home = scratchDir('nd-home-', 0o777)
    chownSync(home, nobody.uid, nobody.gid)
    const as = { uid: nobody.uid, gid: nobody.gid }
    const res = await cli(['start', entry, '--name', 'x'], asNobody(), [], as)
    expect(res.code).toBe(1)
    expect(res.err).toMatch(/writable by group or others; refusing/)
    expect(existsSync(join(home, '.local'))).toBe(false)
  })
})
