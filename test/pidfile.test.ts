// The pid file itself: how start (acquirePidFile) and the read-only look of
// status/stop (inspectPidFile) treat every shape of path, and that the
// read-only side never creates, locks or changes anything.
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  closeSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DaemonizeError } from '../src/errors.js'
import { native } from '../src/native.js'
import { acquirePidFile, acquirePidFileWhenSettled } from '../src/files/pidfile-acquire.js'
import { inspectPidFile } from '../src/files/pidfile-inspect.js'
import { parsePid } from '../src/files/pidfile-read.js'
import { removePidFile } from '../src/files/pidfile-remove.js'
import { status } from '../src/control/status.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()

let dir: string
const open: number[] = []
beforeEach(() => {
  dir = scratchDir('nd-pidfile-', 0o755)
})
afterEach(() => {
  for (const fd of open.splice(0)) closeSync(fd)
})

function expectError(fn: () => unknown): DaemonizeError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(DaemonizeError)
    return err as DaemonizeError
  }
  throw new Error('expected a DaemonizeError')
}

/**
 * Lock a pid file's lock file the way a start does, from this process (an
 * OFD lock: another open file sees it held). Returns the pid file's fd, to
 * write a pid into; open.pop() is the lock file's (closing it lets go).
 */
function holdLock(path: string, content = ''): number {
  const got = acquirePidFile(path)
  open.push(got.pidFd, got.fd)
  if (content) writeFileSync(got.pidFd, content)
  return got.pidFd
}

describe('parsePid', () => {
  it('takes one positive decimal number, with surrounding blanks', () => {
    expect(parsePid('1234\n')).toBe(1234)
    expect(parsePid('  77 ')).toBe(77)
    expect(parsePid('')).toBe(null)
    expect(parsePid('0\n')).toBe(null)
    expect(parsePid('-5')).toBe(null)
    expect(parsePid('12 34')).toBe(null)
    expect(parsePid('abc')).toBe(null)
    expect(parsePid('99999999999')).toBe(null)
  })
})

describe('inspectPidFile (the read-only look of status and stop)', () => {
  it('a missing file is "absent", and is not created', () => {
    const p = join(dir, 'd.pid')
    expect(inspectPidFile(p)).toEqual({ kind: 'absent', path: p })
    expect(existsSync(p)).toBe(false)
  })

  it('held with a pid, held and empty (starting), free with a pid (stale)', () => {
    const p = join(dir, 'd.pid')
    const fd = holdLock(p)
    expect(inspectPidFile(p)).toMatchObject({ kind: 'held', pid: null })
    writeFileSync(fd, '4242\n')
    expect(inspectPidFile(p)).toMatchObject({ kind: 'held', pid: 4242 })
    closeSync(open.pop() as number)
    const st = lstatSync(`${p}.lock`)
    expect(inspectPidFile(p)).toEqual({ kind: 'free', path: p, pid: 4242, lock: { path: `${p}.lock`, dev: st.dev, ino: st.ino } })
  })

  it('looking never takes the lock: a start right after a look still gets it', () => {
    const p = join(dir, 'd.pid')
    writeFileSync(p, '4242\n')
    inspectPidFile(p)
    status(p)
    const got = acquirePidFile(p)
    open.push(got.pidFd, got.fd)
    expect(got.reclaimed).toEqual({ pid: 4242 })
    expect(readFileSync(p, 'utf8')).toBe('') // truncated for the new daemon
  })

  it('a symlink, even to a good pid file, is refused and left alone', () => {
    const real = join(dir, 'real.pid')
    writeFileSync(real, '4242\n')
    const link = join(dir, 'link.pid')
    symlinkSync(real, link)
    const e = expectError(() => inspectPidFile(link, 'stop'))
    expect(e).toMatchObject({ stage: 'stop', code: 'ELOOP', path: link })
    expect(e.message).toContain('symbolic link')
    expect(readlinkSync(link)).toBe(real)
    expect(readFileSync(real, 'utf8')).toBe('4242\n')
  })

  it('a hard-linked pid file is refused', () => {
    const p = join(dir, 'd.pid')
    writeFileSync(p, '4242\n')
    linkSync(p, join(dir, 'other'))
    const e = expectError(() => inspectPidFile(p))
    expect(e).toMatchObject({ code: 'EMLINK', path: p })
    expect(e.message).toContain('2 links')
    expect(lstatSync(p).nlink).toBe(2)
  })

  it('a directory is refused', () => {
    const p = join(dir, 'd.pid')
    mkdirSync(p)
    expect(expectError(() => inspectPidFile(p))).toMatchObject({ code: 'EISDIR', path: p })
    expect(lstatSync(p).isDirectory()).toBe(true)
  })

  it('a FIFO is refused without hanging', () => {
    const p = join(dir, 'd.pid')
    execFileSync('mkfifo', [p])
    expect(expectError(() => inspectPidFile(p))).toMatchObject({ code: 'EINVAL', path: p })
  })

  it('a missing directory is an error, not "absent"', () => {
    const p = join(dir, 'nodir', 'd.pid')
    const e = expectError(() => inspectPidFile(p))
    expect(e).toMatchObject({ code: 'ENOENT', path: p })
    expect(e.message).toContain(`directory ${join(dir, 'nodir')} does not exist`)
    expect(existsSync(join(dir, 'nodir'))).toBe(false)
  })

  it('a file holding something other than a pid is refused', () => {
    const p = join(dir, 'd.pid')
    writeFileSync(p, 'hello\n')
    const e = expectError(() => inspectPidFile(p))
    expect(e).toMatchObject({ code: 'EINVAL', path: p })
    expect(e.message).toContain('does not hold a pid')
  })

  it('an unreadable pid file is refused by start, status and stop (as another user), and left as it was', () => {
    const p = join(dir, 'd.pid')
    writeFileSync(p, '4242\n')
    chmodSync(p, 0o600)
    const asNobody = (...args: string[]) => {
      const out = spawnSync(process.execPath, [join(__dirname, 'fixtures', 'lifecycle-as-user.mjs'), ...args], {
        uid: 65534,
        gid: 65534,
        encoding: 'utf8',
      })
      expect(out.stderr).toBe('')
      return JSON.parse(out.stdout)
    }
    const shim = join(__dirname, '..', 'build', 'test', 'exec-shim')
    const entry = join(__dirname, 'fixtures', 'lifecycle-plain.js')
    const started = asNobody('start', p, shim, entry)
    expect(started).toMatchObject({ ok: false, error: { stage: 'pidfile', code: 'EACCES' } })
    expect(started.error.message).toContain('permission denied')
    expect(asNobody('status', p).result).toMatchObject({ state: 'unknown', code: 4 })
    expect(asNobody('stop', p)).toMatchObject({ ok: false, error: { stage: 'stop', code: 'EACCES' } })
    expect(asNobody('reload', p)).toMatchObject({ ok: false, error: { stage: 'reload', code: 'EACCES' } })
    expect(readFileSync(p, 'utf8')).toBe('4242\n')
    expect(lstatSync(p).mode & 0o777).toBe(0o600)
  })
})

describe('acquirePidFile (start)', () => {
  it('refuses a symlink, a hard link, a directory and a missing directory, and deletes nothing', () => {
    const real = join(dir, 'real.pid')
    writeFileSync(real, '')
    const link = join(dir, 'link.pid')
    symlinkSync(real, link)
    expect(expectError(() => acquirePidFile(link))).toMatchObject({ stage: 'pidfile', code: 'ELOOP', path: link })
    expect(lstatSync(link).isSymbolicLink()).toBe(true)

    const dangling = join(dir, 'dangling.pid')
    symlinkSync(join(dir, 'nowhere'), dangling)
    expect(expectError(() => acquirePidFile(dangling))).toMatchObject({ code: 'ELOOP' })
    expect(existsSync(join(dir, 'nowhere'))).toBe(false)

    const hard = join(dir, 'hard.pid')
    writeFileSync(hard, '4242\n')
    linkSync(hard, join(dir, 'hard2'))
    expect(expectError(() => acquirePidFile(hard))).toMatchObject({ code: 'EMLINK' })
    expect(readFileSync(hard, 'utf8')).toBe('4242\n')

    const d = join(dir, 'dir.pid')
    mkdirSync(d)
    expect(expectError(() => acquirePidFile(d))).toMatchObject({ code: 'EISDIR' })

    const missing = join(dir, 'nodir', 'd.pid')
    const e = expectError(() => acquirePidFile(missing))
    expect(e).toMatchObject({ code: 'ENOENT', path: missing })
    expect(e.message).toContain('does not exist')
  })

  it('a held lock refuses a second start, naming the pid (or "starting" while empty)', () => {
    const p = join(dir, 'd.pid')
    const fd = holdLock(p)
    const starting = expectError(() => acquirePidFile(p))
    expect(starting).toMatchObject({ code: 'EALREADY', path: p })
    expect(starting.pid).toBeUndefined()
    expect(starting.message).toContain('starting')
    writeFileSync(fd, '4242\n')
    const running = expectError(() => acquirePidFile(p))
    expect(running).toMatchObject({ code: 'EALREADY', pid: 4242, message: 'already running (pid 4242)' })
  })

  it('acquirePidFileWhenSettled waits for a starting pid to appear and names it', async () => {
    const p = join(dir, 'd.pid')
    const fd = holdLock(p)
    setTimeout(() => writeFileSync(fd, '4243\n'), 50)
    await expect(acquirePidFileWhenSettled(p)).rejects.toMatchObject({ code: 'EALREADY', pid: 4243, message: 'already running (pid 4243)' })
  })

  it('acquirePidFileWhenSettled goes ahead when the other start gives up', async () => {
    const p = join(dir, 'd.pid')
    holdLock(p)
    setTimeout(() => {
      // The other start failed: it unlinks its files and lets the lock go.
      rmSync(p)
      rmSync(`${p}.lock`)
      closeSync(open.pop() as number)
    }, 50)
    const got = await acquirePidFileWhenSettled(p)
    open.push(got.pidFd, got.fd)
    expect(got.reclaimed).toBeUndefined()
    const look = openSync(`${p}.lock`, 'r')
    open.push(look)
    expect(native().isLocked(look)).toBe(true)
  })
})

describe('removePidFile (the end of a stop)', () => {
  it('unlinks only under the lock, and only while the lock file is the one that was inspected', () => {
    const p = join(dir, 'd.pid')
    const l = `${p}.lock`
    holdLock(p, '4242\n')
    const st = { path: l, dev: lstatSync(l).dev, ino: lstatSync(l).ino }
    expect(removePidFile(p, st)).toBe('locked')
    expect(existsSync(p)).toBe(true)
    expect(existsSync(l)).toBe(true)
    closeSync(open.pop() as number)
    // Another lock file put in its place (created while the old one still exists, so its inode differs).
    writeFileSync(join(dir, 'new'), '')
    renameSync(join(dir, 'new'), l)
    expect(removePidFile(p, st)).toBe('replaced')
    expect(readFileSync(p, 'utf8')).toBe('4242\n')
    expect(removePidFile(p, { path: l, dev: lstatSync(l).dev, ino: lstatSync(l).ino })).toBe('removed')
    expect(existsSync(p)).toBe(false)
    expect(existsSync(l)).toBe(false)
    expect(removePidFile(p, st)).toBe('gone')
  })
})
