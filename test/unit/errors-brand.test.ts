// A DaemonizeError is one for `instanceof` whichever copy of src/errors.ts
// made it (issue 23, fourth pass: the CLI's start bundle takes the pid
// file's part from another bundle, dist/cli-lazy-pidfile.cjs, which carries
// its own copy; `start --name` of a running name must still be told apart
// as EALREADY).
import { describe, expect, it, vi } from 'vitest'

describe('DaemonizeError across copies of its module', () => {
  it('an error of one copy is an instance for the other; anything else is not', async () => {
    const a = await import('../../src/errors.js')
    vi.resetModules()
    const b = await import('../../src/errors.js')
    expect(a.DaemonizeError).not.toBe(b.DaemonizeError)
    const e = new b.DaemonizeError('x', { stage: 'spec', code: 'EALREADY' })
    expect(e instanceof a.DaemonizeError).toBe(true)
    expect(e instanceof Error).toBe(true)
    expect(new Error('x') instanceof a.DaemonizeError).toBe(false)
    expect(Object.assign(new Error('x'), { stage: 'spec', code: 'E' }) instanceof a.DaemonizeError).toBe(false)
    expect((null as unknown as object) instanceof a.DaemonizeError).toBe(false)
  })
})
