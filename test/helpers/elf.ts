// Just enough of ELF (64-bit, little-endian: x86_64 and aarch64) to read what
// a binary needs from the system: its interpreter, its DT_NEEDED libraries and
// its symbol-version requirements (.gnu.version_r), as readelf -V shows them.
import { readFileSync } from 'node:fs'

export interface ElfNeeds {
  machine: number
  /** PT_INTERP: the dynamic loader it asks for; undefined for a static executable. */
  interpreter?: string
  needed: string[]
  /** Version names required, by library: { 'libc.so.6': ['GLIBC_2.2.5', …] }. */
  versions: Record<string, string[]>
}

const SHT_GNU_VERNEED = 0x6ffffffe
const PT_INTERP = 3
const PT_DYNAMIC = 2
const DT_NEEDED = 1
const DT_STRTAB = 5

export function readElfNeeds(path: string): ElfNeeds {
  const b = readFileSync(path)
  if (b.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path}: not an ELF file`)
  if (b[4] !== 2 || b[5] !== 1) throw new Error(`${path}: not a 64-bit little-endian ELF file`)
  const machine = b.readUInt16LE(18)
  const phoff = Number(b.readBigUInt64LE(32))
  const shoff = Number(b.readBigUInt64LE(40))
  const phentsize = b.readUInt16LE(54)
  const phnum = b.readUInt16LE(56)
  const shentsize = b.readUInt16LE(58)
  const shnum = b.readUInt16LE(60)
  const cstr = (off: number) => b.toString('latin1', off, b.indexOf(0, off))

  const segs = Array.from({ length: phnum }, (_, i) => {
    const o = phoff + i * phentsize
    return {
      type: b.readUInt32LE(o),
      offset: Number(b.readBigUInt64LE(o + 8)),
      vaddr: Number(b.readBigUInt64LE(o + 16)),
      filesz: Number(b.readBigUInt64LE(o + 32)),
    }
  })
  const sections = Array.from({ length: shnum }, (_, i) => {
    const o = shoff + i * shentsize
    return {
      type: b.readUInt32LE(o + 4),
      addr: Number(b.readBigUInt64LE(o + 16)),
      offset: Number(b.readBigUInt64LE(o + 24)),
      size: Number(b.readBigUInt64LE(o + 32)),
      link: b.readUInt32LE(o + 40),
    }
  })
  // A virtual address to a file offset, through the loadable segments.
  const fileOffset = (vaddr: number) => {
    for (const s of segs) if (s.type === 1 && vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz) return vaddr - s.vaddr + s.offset
    throw new Error(`${path}: address ${vaddr.toString(16)} is in no loadable segment`)
  }

  const interp = segs.find((s) => s.type === PT_INTERP)
  const needed: string[] = []
  const dyn = segs.find((s) => s.type === PT_DYNAMIC)
  if (dyn) {
    const entries: [number, number][] = []
    for (let o = dyn.offset; o + 16 <= dyn.offset + dyn.filesz; o += 16) {
      const tag = Number(b.readBigInt64LE(o))
      if (tag === 0) break
      entries.push([tag, Number(b.readBigUInt64LE(o + 8))])
    }
    const strtab = entries.find(([t]) => t === DT_STRTAB)
    if (strtab) {
      const base = fileOffset(strtab[1])
      for (const [t, v] of entries) if (t === DT_NEEDED) needed.push(cstr(base + v))
    }
  }

  const versions: Record<string, string[]> = {}
  const vr = sections.find((s) => s.type === SHT_GNU_VERNEED)
  if (vr) {
    const strs = sections[vr.link].offset
    let o = vr.offset
    for (;;) {
      const cnt = b.readUInt16LE(o + 2)
      const file = cstr(strs + b.readUInt32LE(o + 4))
      const list = (versions[file] ??= [])
      let a = o + b.readUInt32LE(o + 8)
      for (let i = 0; i < cnt; i++) {
        list.push(cstr(strs + b.readUInt32LE(a + 8)))
        const next = b.readUInt32LE(a + 12)
        if (next === 0) break
        a += next
      }
      const next = b.readUInt32LE(o + 12)
      if (next === 0) break
      o += next
    }
  }
  return { machine, interpreter: interp ? cstr(interp.offset) : undefined, needed, versions }
}

/** The highest version of one family ('GLIBC', 'GLIBCXX', 'CXXABI') a binary needs, as numbers; undefined for none. */
export function highest(needs: ElfNeeds, family: string): number[] | undefined {
  const re = new RegExp(`^${family}_(\\d+(?:\\.\\d+)*)$`)
  let best: number[] | undefined
  for (const list of Object.values(needs.versions))
    for (const v of list) {
      const m = re.exec(v)
      if (!m) continue
      const n = m[1].split('.').map(Number)
      if (best === undefined || compareVersions(n, best) > 0) best = n
    }
  return best
}

export function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}
