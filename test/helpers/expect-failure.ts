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
