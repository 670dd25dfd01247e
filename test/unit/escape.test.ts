// Escaping what the service user wrote before root's terminal shows it
// (src/escape.ts): escapeControls, and the launcher's log tail
// (src/failure.ts) that quotes a failed daemon's last lines with it.
import { closeSync, openSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { escapeControls } from '../../src/escape.js'
import { logTail } from '../../src/logs/tail.js'
import { cleanUpScratchDirs, scratchDir } from '../helpers/scratch.js'

cleanUpScratchDirs()

describe('escapeControls (hardening round 2, defect 1)', () => {
  it('escapes C0 (with \\t, \\n, \\r, \\b), DEL, C1, bidi controls and the line/paragraph separators, and nothing else', () => {
    const controls = [
      ...Array.from({ length: 0x20 }, (_, i) => i),
      ...Array.from({ length: 0x21 }, (_, i) => 0x7f + i),
      0x061c, 0x200e, 0x200f, 0x2028, 0x2029, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069,
    ]
    for (const cp of controls) {
      const escaped = escapeControls(`a${String.fromCodePoint(cp)}b`)
      const hex = cp < 0x100 ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`
      expect(escaped, `U+${cp.toString(16)}`).toBe(`a${hex}b`)
    }
    const printable = 'plain ASCII ~ \\ é ß 漢字 😀 \u00a0 \u200b \u2030 \u2070'
    expect(escapeControls(printable)).toBe(printable)
  })
})

describe('the log tail', () => {
  it('escapes terminal control sequences the daemon wrote', () => {
    const log = join(scratchDir('nd-escape-'), 'c.log')
    writeFileSync(log, 'before\n\x1b[3A\r\x1b[Jstarted /srv/app.js as pid 4242\x1b]0;owned\x07\ttab\n')
    const fd = openSync(log, 'a')
    try {
      const tail = logTail(fd) as string
      // The lines stay lines; within one, every control is escaped, tab too (hardening round 2, defect 1).
      expect(tail).toBe('before\n\\x1b[3A\\x0d\\x1b[Jstarted /srv/app.js as pid 4242\\x1b]0;owned\\x07\\x09tab')
      expect(tail).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/)
    } finally {
      closeSync(fd)
    }
    expect(escapeControls('a\u009bb\x7f')).toBe('a\\x9bb\\x7f')
  })
})
