// A spec (and every small file read the same way) opened, checked and read
// in one addon call since issue 23's fourth pass (files/checks.ts
// readUntrusted, native/addon/read.cc): the refusals it made when Node's
// openSync, fstatSync and readSync did the reading still hold, and a FIFO
// never blocks the reader.
import { chmodSync, linkSync, truncateSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MAX_SPEC_BYTES, readSpecFile, SPEC_FORMAT, SPEC_VERSION } from '../src/names/spec.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'
import { refusal } from './helpers/expect-failure.js'

cleanUpScratchDirs()

function spec(dir: string, name = 'a.json'): string {
  const path = join(dir, name)
  writeFileSync(path, JSON.stringify({ format: SPEC_FORMAT, version: SPEC_VERSION, name: 'a', uid: process.geteuid?.(), options: {} }), { mode: 0o600 })
  return path
}

describe('issue 23: a spec read through the addon keeps every refusal', () => {
  it('reads a good one, and says nothing of one that is not there', () => {
    const dir = scratchDir('nd-read-')
    expect(readSpecFile(spec(dir))).toMatchObject({ format: SPEC_FORMAT, name: 'a' })
    expect(readSpecFile(join(dir, 'none.json'))).toBeUndefined()
  })

  it('refuses a hard-linked one, a FIFO (without blocking), a directory, one too large', () => {
    const dir = scratchDir('nd-read-')
    const a = spec(dir)
    linkSync(a, join(dir, 'b.json'))
    expect(refusal(() => readSpecFile(a))).toEqual({ message: `spec ${a} has 2 links; refusing a hard-linked spec`, code: 'EMLINK' })
    const fifo = join(dir, 'fifo.json')
    execFileSync('mkfifo', ['-m', '0600', fifo])
    expect(refusal(() => readSpecFile(fifo))).toEqual({ message: `spec ${fifo} is not a regular file`, code: 'EINVAL' })
    expect(refusal(() => readSpecFile(dir))).toMatchObject({ code: 'EISDIR' })
    const big = spec(dir, 'big.json')
    truncateSync(big, MAX_SPEC_BYTES + 1)
    expect(refusal(() => readSpecFile(big))).toEqual({ message: `spec ${big} is not a valid start spec: it is larger than ${MAX_SPEC_BYTES} bytes`, code: 'EINVAL' })
    const open = spec(dir, 'open.json')
    chmodSync(open, 0o622)
    expect(refusal(() => readSpecFile(open))).toMatchObject({ code: 'EPERM' })
  })
})
