// The directory walk (src/files/dirwalk.ts, carried out by the addon's
// walkDir in native/addon/walk.cc since issue 23's fourth pass moved it out
// of JavaScript): every rule of the walk on a real tree, as root, with
// directories and links owned by `nobody` where the rule is about owners.
import { chmodSync, chownSync, closeSync, fstatSync, lchownSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { walkDir, type WalkOptions } from '../src/files/dirwalk.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'
import { refusal } from './helpers/expect-failure.js'
import { nobody } from './helpers/privileges.js'

cleanUpScratchDirs()

const opts: WalkOptions = { stage: 'pidfile' }

/** A scratch directory whose every ancestor passes the rule (/tmp is sticky). */
function top(): string {
  return scratchDir('nd-walk-', 0o755)
}

/** Walk, and give back what the fd names and how it was opened; the fd is closed. */
function walked(path: string, o: WalkOptions = opts): { path: string; ino: number; created: boolean; oPath: boolean } | undefined {
  const w = walkDir(path, o)
  if (w === undefined) return undefined
  try {
    const flags = parseInt(/^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${w.fd}`, 'utf8'))?.[1] ?? '0', 8)
    return { path: w.path, ino: fstatSync(w.fd).ino, created: w.created, oPath: (flags & 0o10000000) !== 0 }
  } finally {
    closeSync(w.fd)
  }
}

/** The refusal of a walk of path (a walk that succeeds closes its fd and fails the test). */
function refused(path: string, o: WalkOptions = opts): { message: string; code: string } {
  return refusal(() => {
    const w = walkDir(path, o)
    if (w !== undefined) closeSync(w.fd)
  })
}

describe('issue 23: the directory walk, done by the addon, keeps every rule', () => {
  it('opens the directory a plain path names, O_PATH, or O_RDONLY when readable', () => {
    const t = top()
    mkdirSync(join(t, 'a', 'b'), { recursive: true })
    const w = walked(join(t, 'a', 'b'))
    expect(w).toMatchObject({ path: join(t, 'a', 'b'), ino: statSync(join(t, 'a', 'b')).ino, created: false, oPath: true })
    expect(walked(join(t, 'a', 'b'), { ...opts, readable: true })).toMatchObject({ ino: statSync(join(t, 'a', 'b')).ino, oPath: false })
    expect(walked('/')).toMatchObject({ path: '/', ino: statSync('/').ino })
    // '.', '//' and a trailing '/' are nothing; '..' is the physical parent
    expect(walked(`${t}//a/./b/`)?.path).toBe(join(t, 'a', 'b'))
    expect(walked(`${t}/a/b/..`)?.path).toBe(join(t, 'a'))
  })

  it('follows links that root owns, relative and absolute, and names the resolved path', () => {
    const t = top()
    mkdirSync(join(t, 'real', 'in'), { recursive: true })
    symlinkSync('real', join(t, 'rel'))
    symlinkSync(join(t, 'real'), join(t, 'abs'))
    symlinkSync('../real/in', join(t, 'real', 'up'))
    expect(walked(join(t, 'rel', 'in'))?.path).toBe(join(t, 'real', 'in'))
    expect(walked(join(t, 'abs', 'in'))?.path).toBe(join(t, 'real', 'in'))
    expect(walked(join(t, 'rel'))?.path).toBe(join(t, 'real'))
    expect(walked(join(t, 'real', 'up'))?.path).toBe(join(t, 'real', 'in'))
  })

  it("refuses a link another user owns, a loop of links, a link to a name that is not UTF-8", () => {
    const t = top()
    mkdirSync(join(t, 'real'))
    symlinkSync('real', join(t, 'theirs'))
    lchownSync(join(t, 'theirs'), nobody.uid, nobody.gid)
    expect(refused(join(t, 'theirs'))).toEqual({
      message: `directory ${join(t, 'theirs')} is a symbolic link owned by nobody (uid ${nobody.uid}); refusing to use it`,
      code: 'EPERM',
    })
    symlinkSync('b', join(t, 'a'))
    symlinkSync('a', join(t, 'b'))
    expect(refused(join(t, 'a', 'x'))).toEqual({ message: `directory ${join(t, 'a', 'x')} has more than 40 symbolic links on its way; refusing to use it`, code: 'ELOOP' })
    symlinkSync(Buffer.from([0x72, 0xff]) as unknown as string, join(t, 'bad'))
    expect(refused(join(t, 'bad'))).toEqual({ message: `directory ${join(t, 'bad')} is a symbolic link to a name that is not UTF-8; refusing to use it`, code: 'EINVAL' })
  })

  it('refuses an ancestor another user owns, or one others may write that is not sticky; a sticky one passes', () => {
    const t = top()
    mkdirSync(join(t, 'theirs', 'x'), { recursive: true })
    chownSync(join(t, 'theirs'), nobody.uid, nobody.gid)
    expect(refused(join(t, 'theirs', 'x'))).toEqual({ message: `directory ${join(t, 'theirs')} is owned by nobody (uid ${nobody.uid}); refusing to use it`, code: 'EPERM' })
    mkdirSync(join(t, 'open', 'x'), { recursive: true, mode: 0o777 })
    chmodSync(join(t, 'open'), 0o777)
    expect(refused(join(t, 'open', 'x'))).toEqual({ message: `directory ${join(t, 'open')} is writable by group or others; refusing to use it`, code: 'EPERM' })
    chmodSync(join(t, 'open'), 0o1777)
    expect(walked(join(t, 'open', 'x'))?.path).toBe(join(t, 'open', 'x'))
    // the last one: the same rule by default, checkLast's own when given
    chmodSync(join(t, 'open'), 0o777)
    expect(refused(join(t, 'open'), opts)).toEqual({ message: `directory ${join(t, 'open')} is writable by group or others; refusing to use it`, code: 'EPERM' })
    expect(walked(join(t, 'theirs'), { ...opts, checkLast: () => {} })?.path).toBe(join(t, 'theirs'))
  })

  it('a file on the way is ENOTDIR; a missing directory is ENOENT, or undefined with allowMissing', () => {
    const t = top()
    writeFileSync(join(t, 'file'), '')
    expect(refused(join(t, 'file', 'x'))).toEqual({ message: `directory ${join(t, 'file')} is not a directory; refusing to use it`, code: 'ENOTDIR' })
    expect(refused(join(t, 'file'))).toEqual({ message: `directory ${join(t, 'file')} is not a directory; refusing to use it`, code: 'ENOTDIR' })
    expect(refused(join(t, 'none', 'x'))).toMatchObject({ message: expect.stringMatching(new RegExp(`^cannot open directory ${join(t, 'none')}: ENOENT`)), code: 'ENOENT' })
    expect(walked(join(t, 'none', 'x'), { ...opts, allowMissing: true })).toBeUndefined()
  })

  it('creates what is missing, each with its mode, and says the last was made', () => {
    const t = top()
    const seen: boolean[] = []
    const w = walked(join(t, 'p', 'q', 'r'), {
      ...opts,
      create: { between: 0o711, last: 0o700 },
      checkLast: (_st, _path, created) => seen.push(created),
    })
    expect(w).toMatchObject({ path: join(t, 'p', 'q', 'r'), created: true })
    expect(seen).toEqual([true])
    const mode = (p: string) => statSync(p).mode & 0o7777
    expect([mode(join(t, 'p')), mode(join(t, 'p', 'q')), mode(join(t, 'p', 'q', 'r'))]).toEqual([0o711 & ~process.umask(), 0o711 & ~process.umask(), 0o700])
    // again: nothing made
    expect(walked(join(t, 'p', 'q', 'r'), { ...opts, create: { between: 0o711, last: 0o700 } })?.created).toBe(false)
    // a checkLast that refuses: the fd is closed, the error is its own
    expect(() => walkDir(join(t, 'p'), { ...opts, checkLast: () => { throw new Error('no') } })).toThrow(/^no$/)
  })
})
