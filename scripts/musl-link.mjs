// The helper linked statically against musl, where Debian's musl-dev is
// installed for the architecture: for the prebuilds (prebuild.mjs) and for a
// source build (build-native.mjs). A static PIE against musl is ~90 kB where
// a static glibc is ~900 kB, runs on glibc and musl systems alike, and starts
// in ~0.15 ms of CPU where glibc's start-up takes ~0.6 ms (it queries the
// CPU's features and caches with dozens of cpuid instructions, each a trap
// to the hypervisor in a VM): the helper's start-up is on the path of every
// start.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'

/** The GCC toolchains for each architecture: the host's own, or Debian's cross toolchain. */
export const toolchains = {
  x64: { arch: 'x64', prefix: process.arch === 'x64' ? '' : 'x86_64-linux-gnu-', triple: 'x86_64-linux' },
  arm64: { arch: 'arm64', prefix: process.arch === 'arm64' ? '' : 'aarch64-linux-gnu-', triple: 'aarch64-linux' },
}

/**
 * Link work/build/Release/node-daemonize-helper again (or `out`), from the
 * helper's sources in work/binding.gyp, as a static PIE against musl (its
 * libc.a, start files and headers from Debian's musl-dev for the
 * architecture; the kernel's uapi headers from the toolchain). Returns false
 * when musl is not there; throws when the link fails.
 */
export function muslLink(tc, work, out = join(work, 'build', 'Release', 'node-daemonize-helper')) {
  const cc = `${tc.prefix}gcc`
  const lib = `/usr/lib/${tc.triple}-musl`
  const inc = `/usr/include/${tc.triple}-musl`
  const gnu = `${tc.triple}-gnu`
  // The kernel's headers: the host's for its own architecture, the cross
  // toolchain's for another.
  const kernel = [
    { asm: `/usr/include/${gnu}/asm`, top: '/usr/include' },
    { asm: `/usr/${gnu}/include/asm`, top: `/usr/${gnu}/include` },
  ].find((k) => existsSync(k.asm) && existsSync(join(k.top, 'linux')))
  if (![`${lib}/libc.a`, `${lib}/rcrt1.o`, `${inc}/stdlib.h`].every((f) => existsSync(f)) || kernel === undefined) return false
  const headers = join(work, 'build', 'musl-kernel-headers')
  rmSync(headers, { recursive: true, force: true })
  mkdirSync(headers, { recursive: true })
  // asm/ is the architecture's; linux/ and asm-generic/ are in the top
  // include directory (/usr/include, or the cross toolchain's).
  symlinkSync(kernel.asm, join(headers, 'asm'))
  for (const d of ['linux', 'asm-generic']) symlinkSync(join(kernel.top, d), join(headers, d))
  const gyp = JSON.parse(readFileSync(join(work, 'binding.gyp'), 'utf8').replace(/#.*$/gm, ''))
  const target = gyp.targets.find((t) => t.target_name === 'node-daemonize-helper')
  const file = (f) => execFileSync(cc, [`-print-file-name=${f}`], { encoding: 'utf8' }).trim()
  const libgcc = execFileSync(cc, ['-print-libgcc-file-name'], { encoding: 'utf8' }).trim()
  execFileSync(
    cc,
    [
      ...target.cflags,
      '-fPIE',
      '-nostdinc',
      '-isystem', inc,
      '-isystem', file('include'),
      '-isystem', headers,
      '-nostdlib',
      '-static-pie',
      '-Wl,--gc-sections',
      '-o', out,
      `${lib}/rcrt1.o`, `${lib}/crti.o`, file('crtbeginS.o'),
      ...target.sources,
      `-L${lib}`, '-lc', libgcc, file('crtendS.o'), `${lib}/crtn.o`,
    ],
    { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] },
  )
  return true
}
