// Every bad input fails loudly, with the stage, errno and path, and leaves
// nothing behind: no process, no zombie, no log or pid file it created.
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { spawnSync } from 'node:child_process'
import { beforeEach, describe, expect, it } from 'vitest'
import { daemonize } from '../src/index.js'
import { fixtures, root, runCaller } from './helpers/caller.js'
import { cleanUpDaemons } from './helpers/daemons.js'
import { childrenOf, zombieChildren } from './helpers/proc.js'
import { failure } from './helpers/expect-failure.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

let dir: string
const entry = join(fixtures, 'daemon-reporter.mjs')
beforeEach(() => {
  dir = scratchDir('nd-bad-')
  chmodSync(dir, 0o755)
})

describe('bad input, caught before anything is spawned', () => {
  it('a missing entry', async () => {
    const log = join(dir, 'a.log')
    const e = await failure(daemonize({ entry: join(dir, 'nope.js'), logFile: log }))
    expect(e).toMatchObject({ stage: 'entry', code: 'ENOENT', errno: -2, syscall: 'stat', path: join(dir, 'nope.js') })
    expect(e.message).toContain(join(dir, 'nope.js'))
    expect(existsSync(log)).toBe(false)
  })

  it('an entry that is a directory', async () => {
    const e = await failure(daemonize({ entry: dir }))
    expect(e).toMatchObject({ stage: 'entry', code: 'EISDIR', errno: -21, path: dir })
  })

  it('a relative entry is resolved against the caller\'s cwd', async () => {
    const e = await failure(daemonize({ entry: 'no/such/entry.js' }))
    expect(e.path).toBe(join(process.cwd(), 'no/such/entry.js'))
  })

  it('a log file in a missing directory', async () => {
    const log = join(dir, 'missing', 'a.log')
    const e = await failure(daemonize({ entry, logFile: log }))
    expect(e).toMatchObject({ stage: 'log', code: 'ENOENT', errno: -2, syscall: 'open', path: log })
  })

  it('a log file that is a symbolic link', async () => {
    const log = join(dir, 'link.log')
    symlinkSync(join(dir, 'target.log'), log)
    const e = await failure(daemonize({ entry, logFile: log }))
    expect(e).toMatchObject({ stage: 'log', code: 'ELOOP', path: log })
    expect(existsSync(join(dir, 'target.log'))).toBe(false)
  })

  it('a cwd that does not exist, or is a file', async () => {
    const e = await failure(daemonize({ entry, cwd: join(dir, 'gone') }))
    expect(e).toMatchObject({ stage: 'cwd', code: 'ENOENT', path: join(dir, 'gone') })
    const f = await failure(daemonize({ entry, cwd: entry }))
    expect(f).toMatchObject({ stage: 'cwd', code: 'ENOTDIR', path: entry })
  })

  it('options of the wrong type or range', async () => {
    await expect(daemonize({ entry, umask: 0o1000 })).rejects.toMatchObject({ stage: 'options', code: 'ERR_INVALID_ARG_VALUE' })
    await expect(daemonize({ entry, args: ['a\0b'] })).rejects.toMatchObject({ stage: 'options' })
    await expect(daemonize({ entry, args: 'x' as unknown as string[] })).rejects.toMatchObject({ stage: 'options' })
    await expect(daemonize({ entry, waitReadyMs: -1 })).rejects.toMatchObject({ stage: 'options' })
  })

  it('no child process is created for any of them', async () => {
    const before = childrenOf(process.pid)
    await failure(daemonize({ entry: join(dir, 'nope.js') }))
    await failure(daemonize({ entry, logFile: join(dir, 'missing', 'x.log') }))
    expect(childrenOf(process.pid)).toEqual(before)
  })
})

describe('bad input, caught by the helper or the daemon', () => {
  it('an exec that fails: execPath pointing nowhere', async () => {
    const log = join(dir, 'exec.log')
    const pidFile = join(dir, 'exec.pid')
    const execPath = join(dir, 'no-such-node')
    const e = await failure(daemonize({ entry, execPath, logFile: log, pidFile }))
    expect(e).toMatchObject({ stage: 'exec', code: 'ENOENT', errno: -2, syscall: 'execve', path: execPath })
    expect(e.message).toContain(execPath)
    // the daemon that could not exec is gone and reaped; the pid file with it
    expect(zombieChildren()).toEqual([])
    expect(existsSync(pidFile)).toBe(false)
    // the failure is in the log too, through pino
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.at(-1)).toMatchObject({ level: 50, stage: 'exec', code: 'ENOENT' })
  })

  it('an execPath that is not executable', async () => {
    const execPath = join(dir, 'not-exec')
    writeFileSync(execPath, '#!/bin/sh\n', { mode: 0o644 })
    const e = await failure(daemonize({ entry, execPath }))
    expect(e).toMatchObject({ stage: 'exec', code: 'EACCES', path: execPath })
  })

  it('a helper that cannot be found', () => {
    // A copy of the package whose helper executable is gone once the addon
    // has loaded (a directory without one is not even loaded from).
    const pkg = join(dir, 'pkg')
    mkdirSync(join(pkg, 'build', 'Release'), { recursive: true })
    for (const f of ['node_daemonize.node', 'node-daemonize-helper'])
      cpSync(join(root, 'build', 'Release', f), join(pkg, 'build', 'Release', f))
    writeFileSync(
      join(pkg, 'unlink-helper.mjs'),
      "import { unlinkSync } from 'node:fs'\nimport { helperPath } from './dist/native.js'\nunlinkSync(helperPath())\n",
    )
    cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true })
    cpSync(join(root, 'package.json'), join(pkg, 'package.json'))
    symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'))
    mkdirSync(join(pkg, 'test', 'fixtures'), { recursive: true })
    cpSync(join(fixtures, 'caller-launch.mjs'), join(pkg, 'test', 'fixtures', 'caller-launch.mjs'))
    const preload = pathToFileURL(join(pkg, 'unlink-helper.mjs')).href
    const r = spawnSync(process.execPath, ['--import', preload, join(pkg, 'test', 'fixtures', 'caller-launch.mjs'), JSON.stringify({ entry })], {
      encoding: 'utf8',
    })
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1) as string)
    expect(out.ok).toBe(false)
    expect(out.error).toMatchObject({
      stage: 'helper',
      code: 'ENOENT',
      syscall: 'posix_spawn',
      path: join(pkg, 'build', 'Release', 'node-daemonize-helper'),
    })
  })

  it('an entry and a log directory the caller may not read or write (non-root caller)', () => {
    const secret = join(dir, 'secret.mjs')
    writeFileSync(secret, 'setInterval(() => {}, 1000)\n', { mode: 0o600 })
    const asNobody = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups']
    const r = runCaller({ entry: secret }, { prefix: asNobody })
    expect(r.ok).toBe(false)
    expect(r.error).toMatchObject({ stage: 'entry', code: 'EACCES', path: secret })
    const log = join(dir, 'root-only', 'a.log')
    mkdirSync(join(dir, 'root-only'), { mode: 0o755 })
    const w = runCaller({ entry, logFile: log }, { prefix: asNobody })
    expect(w.ok).toBe(false)
    expect(w.error).toMatchObject({ stage: 'log', code: 'EACCES', path: log })
  })
})
