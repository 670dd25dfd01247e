// The addon under misuse: errors in a watcher callback, a Worker ending
// with a watcher open, wrong arguments; the *at calls' errors.
import { spawnSync } from 'node:child_process'
import { closeSync, constants as fsc, existsSync, mkdirSync, openSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { native } from '../src/native.js'
import { root } from './helpers/caller.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()

const addon = join(root, 'build', 'Release', 'node_daemonize.node')

function runScript(source: string) {
  return spawnSync(process.execPath, ['-e', source], { encoding: 'utf8', timeout: 20_000, input: 'data on stdin\n' })
}

describe('addon robustness', () => {
  it('an exception in an FdWatcher callback reaches uncaughtException instead of aborting', () => {
    // Regression: the C++ exception used to unwind through libuv: abort, exit 134.
    // stdin is a pipe with data in it, so the watcher fires at once.
    const r = runScript(`
      const { FdWatcher } = require(${JSON.stringify(addon)})
      process.on('uncaughtException', (e) => { console.log('caught', e.message); process.exit(0) })
      globalThis.keep = new FdWatcher(0, () => { throw new Error('boom from callback') })
    `)
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe('caught boom from callback')
  })

  it('a Worker that ends with a watcher open does not abort the process', () => {
    // Regression: uv_loop_close() asserted on the still-open poll handle.
    const r = runScript(`
      const { Worker } = require('node:worker_threads')
      const w = new Worker(\`
        const { FdWatcher } = require(${JSON.stringify(JSON.stringify(addon)).slice(1, -1)})
        globalThis.keep = new FdWatcher(0, () => {})
        require('node:worker_threads').parentPort.postMessage('watching')
      \`, { eval: true })
      w.on('message', async () => { await w.terminate(); console.log('terminated'); })
    `)
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe('terminated')
  })

  it('wrong arguments are a TypeError, not a crash', () => {
    const n = native() as unknown as Record<string, (...a: unknown[]) => unknown>
    for (const fn of ['waitPid', 'lockFile', 'isLocked', 'pidfdOpen', 'pidfdSendSignal', 'lookupUser', 'lookupGroup', 'groupList', 'sdNotify', 'redirectOutput', 'getsid', 'getpgid', 'killSession', 'spawnHelper', 'listenUnixAt', 'openAt', 'openEntryAt', 'readLinkAt', 'mkdirAt', 'unlinkAt', 'rmdirAt']) {
      expect(() => n[fn]({}, {}), fn).toThrow(TypeError)
    }
    expect(() => new (native().FdWatcher)('x' as unknown as number, () => {})).toThrow(TypeError)
  })

  it('system errors look like Node\'s own', () => {
    let err: NodeJS.ErrnoException | undefined
    try {
      native().pidfdOpen(0x7ffffff0)
    } catch (e) {
      err = e as NodeJS.ErrnoException
    }
    expect(err).toMatchObject({ code: 'ESRCH', errno: -3, syscall: 'pidfd_open' })
    expect(err!.message).toBe('ESRCH: no such process, pidfd_open')
  })

  it('unlinkAt and rmdirAt (remove NAME): Node\'s errors, never a link followed, never a directory with anything in it', () => {
    const dir = scratchDir('nd-unlinkat-')
    const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY)
    try {
      const n = native()
      const err = (f: () => void) => {
        try {
          f()
        } catch (e) {
          return e as NodeJS.ErrnoException
        }
        throw new Error('no error')
      }
      expect(err(() => n.unlinkAt(fd, 'missing', join(dir, 'missing')))).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'unlinkat', path: join(dir, 'missing') })
      mkdirSync(join(dir, 'full'))
      writeFileSync(join(dir, 'full', 'kept'), 'x')
      expect(err(() => n.rmdirAt(fd, 'full'))).toMatchObject({ code: 'ENOTEMPTY', syscall: 'unlinkat', path: 'full' })
      expect(existsSync(join(dir, 'full', 'kept'))).toBe(true)
      // A link to a directory: rmdir refuses it (ENOTDIR), unlink removes the link, not what it points to.
      mkdirSync(join(dir, 'target'))
      symlinkSync(join(dir, 'target'), join(dir, 'link'))
      expect(err(() => n.rmdirAt(fd, 'link'))).toMatchObject({ code: 'ENOTDIR', syscall: 'unlinkat' })
      n.unlinkAt(fd, 'link')
      expect(existsSync(join(dir, 'link'))).toBe(false)
      expect(existsSync(join(dir, 'target'))).toBe(true)
      n.rmdirAt(fd, 'target')
      expect(existsSync(join(dir, 'target'))).toBe(false)
      expect(() => n.unlinkAt(fd, '../x')).toThrow(TypeError)
      expect(() => n.rmdirAt(fd, '..')).toThrow(TypeError)
    } finally {
      closeSync(fd)
    }
  })
})
