// The loader: a local build wins, then the prebuild for this platform; a
// candidate whose addon does not load falls through to the next, and the final
// error names every candidate, why it failed and how to build from source. The
// helper comes from the directory whose addon loaded.
import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { BUILD_FROM_SOURCE, candidates, loadFrom } from '../src/native.js'
import { root } from './helpers/caller.js'
import { scratchDirForFile } from './helpers/scratch.js'

// The directory whose addon loads here: build/Release, or under arm64
// emulation in CI (where build/ is the host's x64 build) the arm64 prebuild.
const built = loadFrom(candidates(root)).dir
const scratch = scratchDirForFile('nd-loader-')

/** A directory with a damaged addon (and a helper beside it). */
function corrupt(name: string): string {
  const dir = join(scratch, name)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'node_daemonize.node'), 'not an ELF file\n')
  copyFileSync(join(built, 'node-daemonize-helper'), join(dir, 'node-daemonize-helper'))
  return dir
}

describe('native loader', () => {
  it('looks in build/Release, build/Debug, then prebuilds/<platform>-<arch>', () => {
    const dirs = candidates('/pkg').map((c) => c.dir)
    expect(dirs).toEqual(['/pkg/build/Release', '/pkg/build/Debug', `/pkg/prebuilds/${process.platform}-${process.arch}`])
  })

  it('falls through a candidate that fails to load to the next one, and takes the helper from there', () => {
    const bad = corrupt('bad')
    const { addon, dir } = loadFrom([{ dir: join(scratch, 'missing') }, { dir: bad }, { dir: built }])
    expect(dir).toBe(built)
    expect(typeof addon.getsid(0)).toBe('number')
  })

  it('names every candidate, why it failed, and the command to build from source', () => {
    const bad = corrupt('bad2')
    const noHelper = join(scratch, 'no-helper')
    mkdirSync(noHelper)
    copyFileSync(join(built, 'node_daemonize.node'), join(noHelper, 'node_daemonize.node'))
    let err: (Error & { code?: string }) | undefined
    try {
      loadFrom([{ dir: join(scratch, 'missing') }, { dir: bad }, { dir: noHelper }, { dir: '/x', skip: 'a glibc build, and this system uses musl' }])
    } catch (e) {
      err = e as Error
    }
    expect(err?.code).toBe('ERR_DLOPEN_FAILED')
    const lines = err!.message.split('\n')
    expect(lines[0]).toMatch(/no native addon could be loaded for linux-/)
    expect(lines[1]).toBe(`  - ${join(scratch, 'missing')}: no node_daemonize.node`)
    expect(lines[2]).toMatch(new RegExp(`^  - ${bad}: .*(invalid ELF header|file too short)`))
    expect(lines[3]).toBe(`  - ${noHelper}: node_daemonize.node but no node-daemonize-helper beside it`)
    expect(lines[4]).toBe('  - /x: skipped: a glibc build, and this system uses musl')
    expect(lines[5]).toContain(BUILD_FROM_SOURCE)
  })

  it('in a package copy with a damaged build/, the prebuild is used, helper and all: a real daemon starts and stops', () => {
    const pkg = join(scratch, 'pkg')
    for (const f of ['package.json', 'dist', 'bin', 'examples']) cpSync(join(root, f), join(pkg, f), { recursive: true })
    mkdirSync(join(pkg, 'build'))
    cpSync(corrupt('bad3'), join(pkg, 'build', 'Release'), { recursive: true })
    const prebuild = join(pkg, 'prebuilds', `linux-${process.arch}`)
    mkdirSync(prebuild, { recursive: true })
    for (const f of ['node_daemonize.node', 'node-daemonize-helper']) copyFileSync(join(built, f), join(prebuild, f))
    symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'))
    const helper = spawnSync(process.execPath, ['--input-type=module', '-e', `import { helperPath } from ${JSON.stringify(join(pkg, 'dist', 'native.js'))}; console.log(helperPath())`], { encoding: 'utf8' })
    expect(helper.stderr).toBe('')
    expect(helper.stdout.trim()).toBe(join(prebuild, 'node-daemonize-helper'))
    const cli = (...args: string[]) => spawnSync(process.execPath, [join(pkg, 'bin', 'node-daemonize.js'), ...args], { cwd: pkg, encoding: 'utf8' })
    const pid = join(scratch, 'hello.pid')
    const start = cli('start', 'examples/hello-server.js', '--log-file', join(scratch, 'hello.log'), '--pid-file', pid, '--', '--port', '0')
    expect(start.stderr).toBe('')
    expect(start.status).toBe(0)
    expect(cli('status', '--pid-file', pid).status).toBe(0)
    const stop = cli('stop', '--pid-file', pid)
    expect(stop.stdout).toMatch(/^stopped pid \d+/)
    expect(cli('status', '--pid-file', pid).status).not.toBe(0)
  })
})
