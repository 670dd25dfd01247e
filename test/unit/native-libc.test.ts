// Which libc this Node runs on (src/native.ts isMusl): told by the program
// interpreter its executable names, not by what is installed — a glibc
// system that carries musl's loader too (Debian's musl package) is still
// glibc, and its prebuilt addon must be used.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { isMusl } from '../../src/native.js'
import { cleanUpScratchDirs, scratchDir } from '../helpers/scratch.js'

cleanUpScratchDirs()
let dir: string
beforeEach(() => {
  dir = scratchDir('nd-libc-')
})

/** A 64-bit little-endian ELF header with one program header: PT_INTERP naming interp (or none). */
function elf(interp?: string): Buffer {
  const b = Buffer.alloc(512)
  b.writeUInt32BE(0x7f454c46, 0)
  b[4] = 2 // 64-bit
  b[5] = 1 // little-endian
  b.writeBigUInt64LE(64n, 0x20) // e_phoff
  b.writeUInt16LE(56, 0x36) // e_phentsize
  b.writeUInt16LE(1, 0x38) // e_phnum
  b.writeUInt32LE(interp === undefined ? 1 : 3, 64) // PT_LOAD, or PT_INTERP
  b.writeBigUInt64LE(200n, 64 + 8) // p_offset
  b.writeBigUInt64LE(BigInt((interp ?? '').length + 1), 64 + 32) // p_filesz
  if (interp !== undefined) b.write(interp, 200, 'latin1')
  return b
}

describe('isMusl', () => {
  it('this Node (glibc here) is not musl, even with musl\'s loader installed beside glibc', () => {
    expect(isMusl()).toBe(false)
  })

  it('is musl when the executable names musl\'s loader, glibc when it names glibc\'s, neither when static or not an ELF', () => {
    const file = (name: string, b: Buffer) => {
      writeFileSync(join(dir, name), b)
      return join(dir, name)
    }
    expect(isMusl(file('musl', elf('/lib/ld-musl-x86_64.so.1')))).toBe(true)
    expect(isMusl(file('glibc', elf('/lib64/ld-linux-x86-64.so.2')))).toBe(false)
    expect(isMusl(file('static', elf()))).toBe(false)
    expect(isMusl(file('text', Buffer.from('#!/bin/sh\necho hi\n')))).toBe(false)
    expect(isMusl(join(dir, 'missing'))).toBe(false)
  })
})
