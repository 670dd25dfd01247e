// Cutting the lines of a log to their last bytes (src/log-lines.ts), as
// `logs -f` on a terminal does with the service user's lines: a bounded part
// of each line held, whatever its length and however its bytes arrive.
import { describe, expect, it } from 'vitest'
import { type Cut, LineCutter } from '../../src/logs/line-cutter.js'

describe('LineCutter (hardening round 2, defect 3)', () => {
  it('gives each line\'s last `cap` bytes and what was cut, however the bytes are split', () => {
    // Lines of every length around the cap, split at random places (a seeded generator: the same run every time).
    let seed = 42
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
    const cap = 16
    const lines = Array.from({ length: 400 }, (_, i) => Buffer.from(Array.from({ length: rand(3 * cap) }, (_, j) => String.fromCharCode(97 + ((i + j) % 26))).join('')))
    const all = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]))
    for (let round = 0; round < 20; round++) {
      const got: [string, Cut | undefined][] = []
      const cutter = new LineCutter(cap, (bytes, cut) => got.push([bytes.toString(), cut]))
      for (let at = 0; at < all.length; ) {
        const n = 1 + rand(3 * cap)
        cutter.write(all.subarray(at, at + n))
        at += n
      }
      cutter.end()
      expect(got).toEqual(
        lines.map((l) => [l.subarray(Math.max(0, l.length - cap)).toString(), l.length > cap ? { bytes: l.length - cap, atLeast: false } : undefined]),
      )
    }
    // A start that was not read: at least one byte more is cut.
    const got: [string, Cut | undefined][] = []
    const cutter = new LineCutter(cap, (bytes, cut) => got.push([bytes.toString(), cut]))
    cutter.startsCut()
    cutter.write(Buffer.from('x'.repeat(40) + '\nnext'))
    cutter.end()
    expect(got).toEqual([
      ['x'.repeat(cap), { bytes: 40 - cap + 1, atLeast: true }],
      ['next', undefined],
    ])
  })
})
