// Await a launch that must fail, and hand back its DaemonizeError.
import { expect } from 'vitest'
import { DaemonizeError } from '../../src/index.js'

export async function failure(p: Promise<unknown>): Promise<DaemonizeError> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(DaemonizeError)
    return err as DaemonizeError
  }
  throw new Error('expected the launch to fail')
}

/** Call fn, which must throw a DaemonizeError (a refusal); its message and code. */
export function refusal(fn: () => unknown): { message: string; code: string } {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(DaemonizeError)
    const e = err as DaemonizeError
    return { message: e.message, code: e.code }
  }
  throw new Error('expected a refusal')
}
