// Named daemons: `start --name` puts the pid file, log and saved spec in
// the standard directories (root's under a per-test NODE_DAEMONIZE_TEST_ROOT),
// and the API finds the daemon by name through its spec. Real daemons, judged
// by their pid-file lock and /proc. Restart by name, trusting a spec, and a
// user other than root: names-restart-trust.test.ts.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { daemonize, loadSpecByName } from '../src/index.js'
import { fixtures, root as repo } from './helpers/caller.js'
import { runCli as cli } from './helpers/cli.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { startNamed, useNamesRoot } from './helpers/names.js'
import { envOf, rawCmdline } from './helpers/proc.js'
import { cleanUpScratchDirs } from './helpers/scratch.js'
import { mode } from './helpers/files.js'

cleanUpScratchDirs()
cleanUpDaemons()
const names = useNamesRoot()

const entry = join(fixtures, 'lifecycle-hup.js')

beforeAll(() => {
  if (!existsSync(join(repo, 'dist', 'cli.cjs'))) throw new Error('dist/cli.cjs is missing: run npm run build first')
})

describe('start --name as root', () => {
  it('puts the pid file, log and spec in the standard places, and a second start is refused', async () => {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'web', '--', 'one', 'two words'], r.env)
    const pid = result.pid as number
    expect(result).toMatchObject({
      name: 'web',
      pidFile: join(r.run, 'web.pid'),
      logFile: join(r.logs, 'web.log'),
      specPath: join(r.specs, 'web.json'),
    })
    expect(readFileSync(join(r.run, 'web.pid'), 'utf8').trim()).toBe(String(pid))
    // Specs are private (they hold the environment); run and log directories are readable.
    expect({ specs: mode(r.specs), spec: mode(join(r.specs, 'web.json')), run: mode(r.run), logs: mode(r.logs) }).toEqual({
      specs: 0o700,
      spec: 0o600,
      run: 0o755,
      logs: 0o755,
    })
    const spec = JSON.parse(readFileSync(join(r.specs, 'web.json'), 'utf8'))
    expect(spec).toMatchObject({ format: 'node-daemonize-spec', version: 1, name: 'web', uid: 0 })
    expect(spec.options).toMatchObject({ entry, args: ['one', 'two words'], cwd: '/', pidFile: join(r.run, 'web.pid') })
    // Nothing of ours leaks into the saved environment.
    expect(Object.keys(spec.options.env).filter((k) => k.startsWith('NODE_DAEMONIZE_'))).toEqual([])

    const before = readFileSync(join(r.specs, 'web.json'), 'utf8')
    const again = await cli(['start', entry, '--name', 'web', '--', 'other'], r.env)
    expect(again.code).toBe(1)
    expect(again.err).toMatch(/already running/)
    // The refused start did not touch the first one's spec.
    expect(readFileSync(join(r.specs, 'web.json'), 'utf8')).toBe(before)

    // Even with another pid file: the name is taken while its daemon runs.
    const other = await cli(['start', entry, '--name', 'web', '--pid-file', join(r.top, 'other.pid')], r.env)
    expect(other.code).toBe(1)
    expect(other.err).toMatch(new RegExp(`web is already running \\(pid ${pid}`))

    const st = await cli(['status', 'web', '--json'], r.env)
    expect(st.code).toBe(0)
    expect(JSON.parse(st.out)).toMatchObject({ name: 'web', state: 'running', pid })

    const stopped = await cli(['stop', 'web'], r.env)
    expect(stopped).toMatchObject({ code: 0, out: expect.stringContaining(`stopped pid ${pid}`) })
    await untilGone(pid)
    expect(existsSync(join(r.run, 'web.pid'))).toBe(false)
    expect((await cli(['status', 'web'], r.env)).code).toBe(3)
    // The spec stays: the name can be restarted.
    expect(existsSync(join(r.specs, 'web.json'))).toBe(true)
  })

  it.each(['a/b', '..', 'a..b', 'x@y', '.hidden', '-x', '', 'a b', 'x'.repeat(65)])('refuses the name %j and creates nothing', async (bad) => {
    const r = names()
    const res = await cli(['start', entry, `--name=${bad}`], r.env)
    expect(res.code).toBe(2)
    expect(res.err).toMatch(/invalid daemon name/)
    expect(readdirSync(r.top)).toEqual([])
    for (const cmd of ['stop', 'status', 'reload', 'restart', 'logs']) {
      const byName = await cli([cmd, bad], r.env)
      expect({ cmd, code: byName.code }).toEqual({ cmd, code: 2 })
    }
  })

  // Each pid file has its own lock: without the name's lock, starts of one
  // name with different explicit pid files all passed the "already running"
  // check at once, and as many daemons ran under the one name.
  it('concurrent starts of one name with different pid files give one daemon', async () => {
    const r = names()
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => cli(['start', '--json', entry, '--name', 'race', '--pid-file', join(r.top, `race-${i}.pid`)], r.env)),
    )
    const started = runs.filter((x) => x.code === 0).map((x) => JSON.parse(x.out) as { pid: number; pidFile: string })
    for (const s of started) track(s.pid)
    const refused = runs.filter((x) => x.code !== 0)
    expect(started.length).toBe(1)
    expect(refused.map((x) => x.err)).toEqual(Array(7).fill(expect.stringMatching(/race is already running \(pid \d+/)))
    const spec = JSON.parse(readFileSync(join(r.specs, 'race.json'), 'utf8'))
    expect(spec.options.pidFile).toBe(started[0].pidFile)
    // The lock file stays, private; it is not a spec.
    expect(mode(join(r.specs, 'race.lock'))).toBe(0o600)
    const listed = await cli(['list', '--json'], r.env)
    expect(JSON.parse(listed.out).map((e: { name: string }) => e.name)).toEqual(['race'])
  })

  it('status, stop and reload of a name never started say so', async () => {
    const r = names()
    const st = await cli(['status', 'ghost'], r.env)
    expect(st).toMatchObject({ code: 3, out: expect.stringMatching(/^not running \(no daemon named ghost/) })
    expect((await cli(['stop', 'ghost'], r.env)).err).toMatch(/no daemon named ghost/)
    expect((await cli(['reload', 'ghost'], r.env)).err).toMatch(/no daemon named ghost/)
  })

  it('explicit --pid-file and --log-file win, and the daemon is still found by name', async () => {
    const r = names()
    const pidFile = join(r.top, 'mine.pid')
    const logFile = join(r.top, 'mine.log')
    const { result } = await startNamed([entry, '--name', 'mine', '--pid-file', pidFile, '--log-file', logFile], r.env)
    expect(result).toMatchObject({ pidFile, logFile })
    expect(existsSync(r.run)).toBe(false)
    expect(existsSync(r.logs)).toBe(false)
    const st = await cli(['status', 'mine', '--json'], r.env)
    expect(JSON.parse(st.out)).toMatchObject({ state: 'running', pid: result.pid, pidFile })
    expect((await cli(['stop', 'mine'], r.env)).code).toBe(0)
    await untilGone(result.pid as number)
  })
})

describe('the API', () => {
  it('daemonize({ name }) fills in the paths and saves the spec; loadSpecByName gives back options that start it again', async () => {
    const r = names()
    const saved = process.env.NODE_DAEMONIZE_TEST_ROOT
    process.env.NODE_DAEMONIZE_TEST_ROOT = r.top
    try {
      const d = await daemonize({ entry, name: 'lib', args: ['x', Buffer.from([0xe9])], env: { ONLY: 'this' }, startupGraceMs: 200 })
      track(d.pid)
      expect(d).toMatchObject({ name: 'lib', pidFile: join(r.run, 'lib.pid'), logFile: join(r.logs, 'lib.log'), specPath: join(r.specs, 'lib.json') })
      const spec = await loadSpecByName('lib')
      expect(spec).toMatchObject({ name: 'lib', specPath: join(r.specs, 'lib.json'), uid: 0 })
      expect(spec.options).toMatchObject({ entry, name: 'lib', pidFile: d.pidFile, logFile: d.logFile, startupGraceMs: 200, env: { ONLY: 'this' } })
      expect(spec.options.args).toEqual(['x', Buffer.from([0xe9])])

      await expect(daemonize(spec.options)).rejects.toMatchObject({ code: 'EALREADY', pid: d.pid })
      expect((await cli(['stop', 'lib'], r.env)).code).toBe(0)
      await untilGone(d.pid)
      const again = await daemonize(spec.options)
      track(again.pid)
      expect(rawCmdline(again.pid).slice(-3)).toEqual([Buffer.from(entry), Buffer.from('x'), Buffer.from([0xe9])])
      expect([...envOf(again.pid).keys()].filter((k) => !k.startsWith('NODE_DAEMONIZE_'))).toEqual(['ONLY'])

      await expect(loadSpecByName('nope')).rejects.toMatchObject({ stage: 'spec', code: 'ENOENT' })
      await expect(loadSpecByName('../etc')).rejects.toMatchObject({ stage: 'name', code: 'ERR_INVALID_ARG_VALUE' })
    } finally {
      if (saved === undefined) delete process.env.NODE_DAEMONIZE_TEST_ROOT
      else process.env.NODE_DAEMONIZE_TEST_ROOT = saved
    }
  })

  it('start --name --ok-if-running exits 0 when the name runs', async () => {
    const r = names()
    const { result } = await startNamed([entry, '--name', 'once'], r.env)
    const again = await cli(['start', entry, '--name', 'once', '--ok-if-running', '--json'], r.env)
    expect(again.code).toBe(0)
    expect(JSON.parse(again.out)).toMatchObject({ alreadyRunning: true, pid: result.pid })
  })
})
