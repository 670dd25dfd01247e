// Running the daemon as another user, what is refused or checked: names
// resolved and refused before anything is spawned, entry and cwd checked as
// the target user, the log file never a trap for root, a drop that does not
// hold, inherited capabilities, the preload read as the target user, and a
// launcher that is not root (under setpriv; CI runs as root).
// The daemon as nobody itself: privileges-nobody.test.ts.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { daemonize, DaemonizeError } from '../src/index.js'
import { execShim, fixtures } from './helpers/caller.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { untilLine } from './helpers/files.js'
import { childrenOf, isAlive, procStatus } from './helpers/proc.js'
import { failure } from './helpers/expect-failure.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'
import { four, ids, lineWith, nobody, nobodyDirIn, nogroup, privLaunch, shimEntry } from './helpers/privileges.js'

cleanUpScratchDirs()
cleanUpDaemons()

const require = createRequire(import.meta.url)
let dir: string
beforeEach(() => {
  // Root-owned, traversable by everyone, writable only by root.
  dir = scratchDir('nd-priv-', 0o755)
})

/** A directory the target user owns (so it may create files in it). */
function nobodyDir(name = 'logs'): string {
  return nobodyDirIn(dir, name)
}

describe('a log file that is a trap is refused before anything starts', () => {
  it('a symbolic link to an existing file: ELOOP, the target untouched', async () => {
    const target = join(dir, 'target')
    writeFileSync(target, 'secret\n', { mode: 0o600 })
    const link = join(nobodyDir(), 'app.log')
    symlinkSync(target, link)
    const pidFile = join(dir, 'a.pid')
    const before = childrenOf(process.pid)
    const e = await failure(daemonize({ entry: shimEntry, execPath: execShim, preload: false, user: 'nobody', logFile: link, pidFile }))
    expect(e).toMatchObject({ stage: 'log', code: 'ELOOP', syscall: 'open', path: link })
    expect(readFileSync(target, 'utf8')).toBe('secret\n')
    expect(statSync(target)).toMatchObject({ uid: 0, gid: 0 })
    expect(existsSync(pidFile)).toBe(false)
    expect(childrenOf(process.pid)).toEqual(before)
  })

  it('a dangling symbolic link: ELOOP, nothing created at its target', async () => {
    const target = join(dir, 'planted')
    const link = join(nobodyDir(), 'app.log')
    symlinkSync(target, link)
    const e = await failure(daemonize({ entry: shimEntry, execPath: execShim, preload: false, user: 'nobody', logFile: link }))
    expect(e).toMatchObject({ stage: 'log', code: 'ELOOP', path: link })
    expect(existsSync(target)).toBe(false)
  })

  it('a FIFO planted at the log path: refused without blocking, with or without a reader', async () => {
    const logs = nobodyDir()
    const fifo = join(logs, 'app.log')
    const made = spawnSync('mkfifo', [fifo])
    expect(made.status).toBe(0)
    const e = await failure(daemonize({ entry: shimEntry, execPath: execShim, preload: false, user: 'nobody', logFile: fifo }))
    expect(e).toMatchObject({ stage: 'log', code: 'ENXIO', syscall: 'open', path: fifo })

    // A reader on the other end: the open succeeds, fstat refuses it.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
    try {
      const e2 = await failure(daemonize({ entry: shimEntry, execPath: execShim, preload: false, user: 'nobody', logFile: fifo }))
      expect(e2).toMatchObject({ stage: 'log', code: 'EINVAL', path: fifo })
    } finally {
      closeSync(reader)
    }
    expect(statSync(fifo)).toMatchObject({ uid: 0, gid: 0 })
  })

  it('a hard-linked log: refused, neither name chowned', async () => {
    const other = join(dir, 'shadow')
    writeFileSync(other, '', { mode: 0o600 })
    const log = join(nobodyDir(), 'app.log')
    linkSync(other, log)
    const pidFile = join(dir, 'a.pid')
    const e = await failure(daemonize({ entry: shimEntry, execPath: execShim, preload: false, user: 'nobody', logFile: log, pidFile }))
    expect(e).toMatchObject({ stage: 'log', code: 'EMLINK', path: log })
    expect(statSync(other)).toMatchObject({ uid: 0, gid: 0, nlink: 2 })
    expect(existsSync(pidFile)).toBe(false)
  })
})

describe('names resolved in the caller, refused before anything is spawned', () => {
  // User resolution happens in resolveLaunch(); the pid file and then the log
  // are opened only after it, so a bad name leaves no file behind.
  async function refused(options: Parameters<typeof daemonize>[0]): Promise<DaemonizeError> {
    const before = childrenOf(process.pid)
    const e = await failure(daemonize(options))
    expect(e.pid).toBeUndefined()
    expect(childrenOf(process.pid)).toEqual(before)
    expect(existsSync(options.logFile as string)).toBe(false)
    expect(existsSync(options.pidFile as string)).toBe(false)
    return e
  }

  it('an unknown user, named in the error', async () => {
    const e = await refused({ entry: shimEntry, user: 'no-such-user-nd6', logFile: join(dir, 'a.log'), pidFile: join(dir, 'a.pid') })
    expect(e).toMatchObject({ stage: 'user', code: 'ERR_UNKNOWN_USER' })
    expect(e.message).toContain("'no-such-user-nd6'")
  })

  it('an unknown group, named in the error', async () => {
    const e = await refused({
      entry: shimEntry,
      user: 'nobody',
      group: 'no-such-group-nd6',
      logFile: join(dir, 'a.log'),
      pidFile: join(dir, 'a.pid'),
    })
    expect(e).toMatchObject({ stage: 'user', code: 'ERR_UNKNOWN_GROUP' })
    expect(e.message).toContain("'no-such-group-nd6'")
  })

  it('a bare uid without a group (it has no primary group; the caller\'s root group must not leak)', async () => {
    const e = await refused({ entry: shimEntry, user: 54321, logFile: join(dir, 'a.log'), pidFile: join(dir, 'a.pid') })
    expect(e).toMatchObject({ stage: 'user', code: 'ERR_UNKNOWN_USER' })
    expect(e.message).toContain('54321')
  })

  it.each([[-1], [1.5], [''], [4294967295], ['4294967295'], [{}]])('a malformed user %j', async (user) => {
    const e = await refused({ entry: shimEntry, user: user as string, logFile: join(dir, 'a.log'), pidFile: join(dir, 'a.pid') })
    expect(e).toMatchObject({ stage: 'options', code: 'ERR_INVALID_ARG_VALUE' })
  })
})

describe('entry and cwd are checked as the target user, by the daemon', () => {
  it('an entry only root can read: stage entry, EACCES; nothing left running, pid file removed', async () => {
    const secret = join(dir, 'secret.mjs')
    writeFileSync(secret, 'setInterval(() => {}, 1000)\n', { mode: 0o600 })
    const pidFile = join(dir, 'a.pid')
    const before = childrenOf(process.pid)
    const e = await failure(daemonize({ entry: secret, execPath: execShim, preload: false, user: 'nobody', pidFile }))
    expect(e).toMatchObject({ stage: 'entry', code: 'EACCES', errno: -13, syscall: 'open', path: secret })
    expect(e.pid).toEqual(expect.any(Number))
    expect(isAlive(e.pid as number)).toBe(false)
    expect(existsSync(pidFile)).toBe(false)
    expect(childrenOf(process.pid)).toEqual(before)
  })

  it('an execPath the target user cannot execute: stage exec, EACCES; nothing left running', async () => {
    const prog = join(dir, 'shim-root-only')
    copyFileSync(execShim, prog)
    chmodSync(prog, 0o700)
    const pidFile = join(dir, 'a.pid')
    const e = await failure(daemonize({ entry: shimEntry, execPath: prog, preload: false, user: 'nobody', pidFile }))
    expect(e).toMatchObject({ stage: 'exec', code: 'EACCES', syscall: 'execve', path: prog })
    expect(isAlive(e.pid as number)).toBe(false)
    expect(existsSync(pidFile)).toBe(false)
  })

  it('a cwd the target user cannot enter: stage chdir, EACCES; nothing left running, pid file removed', async () => {
    const cwd = join(dir, 'private')
    mkdirSync(cwd, { mode: 0o700 })
    const pidFile = join(dir, 'a.pid')
    const before = childrenOf(process.pid)
    const e = await failure(daemonize({ entry: shimEntry, execPath: execShim, preload: false, user: 'nobody', cwd, pidFile }))
    expect(e).toMatchObject({ stage: 'chdir', code: 'EACCES', errno: -13, syscall: 'chdir', path: cwd })
    expect(isAlive(e.pid as number)).toBe(false)
    expect(existsSync(pidFile)).toBe(false)
    expect(childrenOf(process.pid)).toEqual(before)
  })
})

interface LaunchResult {
  ok: boolean
  caller: { uid: number; gid: number; groups: number[] }
  pid?: number
  error?: { message: string; stage: string; code: string; errno?: number; syscall?: string; pid?: number }
  children: number[]
}

/** Run test/fixtures/priv-launch.mjs under setpriv with these arguments. */
function launchUnder(setprivArgs: string[], options: Record<string, unknown>): LaunchResult {
  const cmd = [...setprivArgs, process.execPath, privLaunch, JSON.stringify(options)]
  const r = spawnSync('setpriv', cmd, { encoding: 'utf8', timeout: 60_000 })
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'))
  if (!line) throw new Error(`launcher printed no result (status ${r.status}):\n${r.stdout}${r.stderr}`)
  return JSON.parse(line) as LaunchResult
}

describe('a drop that does not hold is a stage failure, and the program never runs', () => {
  it('a root caller whose securebits keep capabilities across setuid: stage credentials', () => {
    // SECBIT_NO_SETUID_FIXUP: setuid(nobody) keeps every capability, so
    // setuid(0) would still work. The daemon's check catches it.
    const log = join(dir, 'fixup.log')
    const r = launchUnder(['--securebits', '+no_setuid_fixup'], {
      entry: shimEntry,
      execPath: execShim,
      preload: false,
      user: 'nobody',
      logFile: log,
    })
    expect(r.ok).toBe(false)
    expect(r.error).toMatchObject({ stage: 'credentials', code: 'ERR_DAEMON_VERIFY' })
    expect(isAlive(r.error?.pid as number)).toBe(false)
    expect(readFileSync(log, 'utf8')).not.toContain('"shim"')
  })
})

describe('inherited capabilities', () => {
  it('a root caller with an inheritable capability: the daemon holds no capability at all', async () => {
    // setuid() clears the permitted, effective and ambient sets but not the
    // inheritable one; a later exec of a file with matching inheritable file
    // capabilities would regain it. The daemon drops it before exec.
    const log = join(dir, 'inh.log')
    const r = launchUnder(['--inh-caps', '+dac_read_search'], {
      entry: shimEntry,
      execPath: execShim,
      preload: false,
      user: 'nobody',
      logFile: log,
    })
    expect(r.ok).toBe(true)
    const pid = track(r.pid as number)
    await untilLine(log, '"shim"')
    const st = procStatus(pid)
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb']) expect(st[set], set).toBe('0000000000000000')
    expect(st.Uid).toBe(four(nobody.uid))
  })
})

describe('the preload, read as the target user', () => {
  it('a package the target user cannot read fails at stage entry, naming the preload', () => {
    // A copy of the package in a directory only root may enter: the caller
    // (root) reads it, the daemon (nobody) could not load the preload and
    // would die at once with "Cannot find module", after a launch reported
    // as a success. The daemon checks the preload as its own user first.
    const { cpSync, mkdirSync, symlinkSync } = require('node:fs') as typeof import('node:fs')
    const root = join(fixtures, '..', '..')
    const hidden = join(dir, 'root-only')
    mkdirSync(hidden, { mode: 0o700 })
    const pkg = join(hidden, 'pkg')
    cpSync(join(root, 'build', 'Release'), join(pkg, 'build', 'Release'), { recursive: true })
    cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true })
    cpSync(join(root, 'package.json'), join(pkg, 'package.json'))
    symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'))
    const script = `import('${join(pkg, 'dist', 'index.js')}').then(({ daemonize }) => daemonize({ entry: ${JSON.stringify(
      shimEntry,
    )}, user: 'nobody' })).then((d) => { console.log(JSON.stringify({ ok: true, pid: d.pid })) }, (e) => { console.log(JSON.stringify({ ok: false, stage: e.stage, code: e.code, path: e.path, message: e.message })) })`
    const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 })
    const result = JSON.parse(out.stdout.trim().split('\n').at(-1) as string)
    if (result.ok) track(result.pid)
    expect(result).toMatchObject({ ok: false, stage: 'entry', code: 'EACCES', path: join(pkg, 'dist', 'daemon', 'preload.cjs') })
    expect(result.message).toContain('preload')
  })
})

describe('a launcher that is not root', () => {
  const asNobody = (options: Record<string, unknown>) =>
    launchUnder(['--reuid=nobody', '--regid=nogroup', '--clear-groups'], options)

  it.each([
    ['user root', { user: 'root' }],
    ['user 0', { user: 0 }],
    ['group root', { group: 'root' }],
    ['its own user with group root', { user: 'nobody', group: 'root' }],
  ])('%s: EPERM, nothing started, no log file', (_name, who) => {
    const log = join(nobodyDir(), 'a.log')
    const r = asNobody({ entry: shimEntry, execPath: execShim, preload: false, logFile: log, ...who })
    expect(r.caller).toEqual({ uid: nobody.uid, gid: nobody.gid, groups: [] })
    expect(r.ok).toBe(false)
    expect(r.error).toMatchObject({ stage: 'user', code: 'EPERM', errno: -1 })
    expect(r.children).toEqual([])
    expect(existsSync(log)).toBe(false)
  })

  it.each([
    ['its own user by name', { user: 'nobody' }],
    ['its own uid and group', { user: nobody.uid, group: nogroup?.name }],
  ])('%s: fine, and nothing changes', async (_name, who) => {
    const log = join(nobodyDir(), 'a.log')
    const r = asNobody({ entry: shimEntry, execPath: execShim, preload: false, logFile: log, ...who })
    expect(r.error).toBeUndefined()
    expect(r.ok).toBe(true)
    const pid = track(r.pid as number)
    await lineWith(log, 'shim')
    // The caller's own ids, including its (empty) supplementary groups.
    expect(ids(pid)).toEqual({ uid: four(nobody.uid), gid: four(nobody.gid), groups: [] })
  })

  it('a caller whose uid has no passwd entry may name that uid', async () => {
    const uid = 54321
    const logs = join(dir, 'bare')
    mkdirSync(logs, { mode: 0o755 })
    chownSync(logs, uid, nobody.gid)
    const log = join(logs, 'a.log')
    const r = launchUnder([`--reuid=${uid}`, `--regid=${nobody.gid}`, '--clear-groups'], {
      entry: shimEntry,
      execPath: execShim,
      preload: false,
      logFile: log,
      user: uid,
    })
    expect(r.error).toBeUndefined()
    const pid = track(r.pid as number)
    await lineWith(log, 'shim')
    expect(ids(pid)).toEqual({ uid: four(uid), gid: four(nobody.gid), groups: [] })
  })
})
