// The signal table: numbers to Node's names ('SIGTERM') for messages and
// results, and names or numbers given by a caller, checked.
import type * as os from 'node:os'
import { optionError } from './errors.js'
import { native } from './native.js'

/**
 * Node's signal numbers (os.constants.signals), node:os loaded at the first
 * call: status and stop of a daemon that is not running never signal, so
 * they do not compile node:os at all.
 */
export function osSignals(): typeof os.constants.signals {
  return process.getBuiltinModule('node:os').constants.signals
}

// Built when first asked for, not when the module loads: most commands
// never name a signal (status of a running daemon, logs, list).
let names: Map<number, NodeJS.Signals> | undefined

/** The name of a signal number, or undefined for one Node does not name (e.g. real-time signals). */
export function signalName(num: number): NodeJS.Signals | undefined {
  names ??= new Map(Object.entries(osSignals()).map(([name, num]) => [num, name as NodeJS.Signals]))
  return names.get(num)
}

/** A signal name ('SIGTERM' or 'TERM') or number (1 to the addon's ND_SIGNAL_LAST), checked. */
export function resolveSignal(signal: NodeJS.Signals | number | string): { num: number; name?: NodeJS.Signals } {
  if (typeof signal === 'number') {
    const last = native().constants.ND_SIGNAL_LAST
    if (!Number.isInteger(signal) || signal < 1 || signal > last) {
      throw optionError(`signal must be a signal number from 1 to ${last}, got ${signal}`)
    }
    return { num: signal, name: signalName(signal) }
  }
  const upper = String(signal).toUpperCase()
  if (/^\d+$/.test(upper)) return resolveSignal(Number(upper))
  const name = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as NodeJS.Signals
  const num = (osSignals() as Record<string, number>)[name]
  if (num === undefined) throw optionError(`unknown signal '${signal}'`)
  return { num, name }
}
