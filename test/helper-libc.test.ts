// The helper of a source build is linked statically against musl where
// Debian's musl-dev is installed (scripts/build-native.mjs, as the prebuilds
// are), else against glibc. The rest of the suite runs whichever this build
// made; this file runs the other one too: node-gyp's own glibc helper, which
// a checkout keeps beside it (build/Release/node-daemonize-helper-glibc),
// from a copy of the package whose helper it is. Where there is no such file
// the build's helper must be the glibc one itself, so that the suite tested it.
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { isMusl } from '../src/native.js'
import { execShim, fixtures, root, runCaller } from './helpers/caller.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { untilLine } from './helpers/files.js'
import { readElfNeeds } from './helpers/elf.js'
import { isAlive, procStat } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'
import { until } from './helpers/wait.js'

cleanUpScratchDirs()
cleanUpDaemons()

const release = join(root, 'build', 'Release')
const glibcHelper = join(release, 'node-daemonize-helper-glibc')
/** glibc's static start-up reads GLIBC_TUNABLES; musl has no such thing. */
const linksGlibc = (path: string) => readFileSync(path).includes('GLIBC_TUNABLES')

let dir: string
beforeEach(() => {
  dir = scratchDir('nd-libc-')
})

/** A copy of the package (bin, dist, build/Release) whose helper is `helper`. */
function packageWith(helper: string): string {
  const pkg = join(dir, 'pkg')
  mkdirSync(join(pkg, 'build', 'Release'), { recursive: true })
  cpSync(join(release, 'node_daemonize.node'), join(pkg, 'build', 'Release', 'node_daemonize.node'))
  cpSync(helper, join(pkg, 'build', 'Release', 'node-daemonize-helper'))
  for (const d of ['bin', 'dist']) cpSync(join(root, d), join(pkg, d), { recursive: true })
  cpSync(join(root, 'package.json'), join(pkg, 'package.json'))
  symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'))
  mkdirSync(join(pkg, 'test', 'fixtures'), { recursive: true })
  cpSync(join(fixtures, 'caller-launch.mjs'), join(pkg, 'test', 'fixtures', 'caller-launch.mjs'))
  return pkg
}

const builtHelper = join(release, 'node-daemonize-helper')

// A run on the prebuilds alone (test/helpers/global-setup.ts) has no source build to look at.
describe.runIf(existsSync(builtHelper))('the helper linked against either libc', () => {
  it('the build made a musl helper and kept the glibc one, or its helper is the C library node-gyp linked', () => {
    if (existsSync(glibcHelper)) {
      expect(linksGlibc(glibcHelper)).toBe(true)
      expect(linksGlibc(builtHelper)).toBe(false)
    } else {
      // No musl-dev (or a musl system, where node-gyp's own helper is musl):
      // the rest of the suite ran node-gyp's helper.
      expect(linksGlibc(builtHelper)).toBe(!isMusl())
    }
  })

  describe.runIf(existsSync(glibcHelper))('the glibc helper of this build', () => {
    it('is a static executable too: no loader, no libraries', () => {
      const needs = readElfNeeds(glibcHelper)
      expect(needs.interpreter).toBeUndefined()
      expect(needs.needed).toEqual([])
    })

    it('launches a daemon from a hostile shell that is clean at exec (exec shim)', async () => {
      const pkg = packageWith(glibcHelper)
      const log = join(dir, 'shim.log')
      const r = runCaller(
        { entry: join(fixtures, 'daemon-reporter.mjs'), execPath: execShim, preload: false, logFile: log, pidFile: join(dir, 'shim.pid') },
        { hostile: true, caller: join(pkg, 'test', 'fixtures', 'caller-launch.mjs') },
      )
      expect(r.ok, r.output).toBe(true)
      const d = r.daemon!
      track(d.pid)
      const s = JSON.parse(await untilLine(log, (l) => l.startsWith('{"shim"'), { what: "the exec shim's report" }))
      expect(s.pid).toBe(d.pid)
      expect(s.sid).toBe(d.helperPid)
      expect(s.sid).not.toBe(s.pid)
      expect(s.ttyNr).toBe(0)
      expect(s.cwd).toBe('/')
      expect(s.umask).toBe('0022')
      // every disposition reset and nothing blocked, the real-time signals included
      expect(s.sigBlk).toBe('0000000000000000')
      expect(s.sigIgn).toBe('0000000000000000')
      expect(s.fds.map((f: { fd: number }) => f.fd).sort((a: number, b: number) => a - b)).toEqual([0, 1, 2, 3])
      expect(d.stages).toEqual(['setsid', 'fork', 'pidfile', 'session', 'umask', 'rlimit', 'chdir', 'entry', 'stdio', 'fds', 'signals', 'exec'])
    })

    it('reports a failed exec with its stage and errno', () => {
      const pkg = packageWith(glibcHelper)
      const execPath = join(dir, 'not-exec')
      writeFileSync(execPath, '#!/bin/sh\n', { mode: 0o644 })
      const r = runCaller({ entry: join(fixtures, 'daemon-reporter.mjs'), execPath }, { caller: join(pkg, 'test', 'fixtures', 'caller-launch.mjs') })
      expect(r.ok).toBe(false)
      expect(r.error).toMatchObject({ stage: 'exec', code: 'EACCES', syscall: 'execve', path: execPath })
    })

    it('supervises: a killed daemon is started again, and stop ends both', async () => {
      const pkg = packageWith(glibcHelper)
      const cli = (args: string[]) => spawnSync(process.execPath, [join(pkg, 'bin', 'node-daemonize.js'), ...args], { encoding: 'utf8', timeout: 60_000 })
      const pidFile = join(dir, 'sup.pid')
      const start = cli(['start', join(fixtures, 'lifecycle-hup.js'), '--pid-file', pidFile, '--log-file', join(dir, 'sup.log'), '--respawn', '--respawn-delay', '50ms', '--json'])
      expect(start.status, start.stderr).toBe(0)
      const s = JSON.parse(start.stdout) as { pid: number; supervisorPid: number }
      track(s.supervisorPid)
      track(s.pid)
      // The supervisor is the helper: the glibc one, from the copy.
      expect(readlinkSync(`/proc/${s.supervisorPid}/exe`)).toBe(join(pkg, 'build', 'Release', 'node-daemonize-helper'))
      const status = () => JSON.parse(cli(['status', '--pid-file', pidFile, '--json']).stdout) as { state: string; supervisor?: { daemonPid: number } }
      await until('the first daemon to be up', () => status().supervisor?.daemonPid === s.pid)
      process.kill(s.pid, 'SIGKILL')
      let next = 0
      await until('a second daemon', () => {
        const st = status()
        next = st.supervisor?.daemonPid ?? 0
        return st.state === 'running' && next !== 0 && next !== s.pid
      })
      track(next)
      expect(procStat(next).session).toBe(procStat(s.supervisorPid).session)
      const stop = cli(['stop', '--pid-file', pidFile])
      expect(stop.status, stop.stderr).toBe(0)
      await until('the supervisor and the daemon to be gone', () => !isAlive(s.supervisorPid) && !isAlive(next))
    })
  })
})
