// What the binaries ask of the system they run on (their floor). The addon
// needs no glibc, libstdc++ or C++ ABI newer than Node's own builds do
// (glibc 2.28; RHEL 8's GLIBCXX_3.4.25, CXXABI_1.3.11), so a prebuild made on
// a new system still loads on RHEL 8, Ubuntu 20.04 or Debian 11; the helper is
// a static executable, needing nothing at all (not even NSS: it looks up no
// users). Read from the ELF files themselves, the built ones and the prebuilds.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root } from './helpers/caller.js'
import { compareVersions, highest, readElfNeeds } from './helpers/elf.js'

const floors: Record<string, number[]> = { GLIBC: [2, 28], GLIBCXX: [3, 4, 25], CXXABI: [1, 3, 11] }

const dirs = [join(root, 'build', 'Release')]
const prebuilds = join(root, 'prebuilds')
if (existsSync(prebuilds)) for (const d of readdirSync(prebuilds)) if (d.startsWith('linux-')) dirs.push(join(prebuilds, d))
const present = dirs.filter((d) => existsSync(join(d, 'node_daemonize.node')))

describe.each(present)('binaries in %s', (dir) => {
  it('the addon needs no GLIBC above 2.28, GLIBCXX above 3.4.25 or CXXABI above 1.3.11', () => {
    const needs = readElfNeeds(join(dir, 'node_daemonize.node'))
    expect(highest(needs, 'GLIBC')).toBeDefined() // it was read: every addon needs some glibc
    for (const [family, floor] of Object.entries(floors)) {
      const top = highest(needs, family)
      if (top !== undefined) expect(compareVersions(top, floor), `needs ${family}_${top.join('.')}`).toBeLessThanOrEqual(0)
    }
    for (const lib of needs.needed) expect(lib).toMatch(/^(libc|libm|libdl|libpthread|libstdc\+\+|libgcc_s)\.so\.\d+$/)
  })

  it('the helper is a static executable: no loader, no libraries, no NSS', () => {
    const path = join(dir, 'node-daemonize-helper')
    const needs = readElfNeeds(path)
    expect(needs.interpreter).toBeUndefined()
    expect(needs.needed).toEqual([])
    expect(needs.versions).toEqual({})
    expect(needs.machine).toBe(readElfNeeds(join(dir, 'node_daemonize.node')).machine)
    expect(readFileSync(path).includes('nsswitch.conf')).toBe(false)
  })
})

it('checks at least the local build', () => {
  expect(present.length).toBeGreaterThan(0)
})
