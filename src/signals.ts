// Signal numbers to Node's names ('SIGTERM'), for messages and results.
import { constants as osc } from 'node:os'

const names = new Map<number, NodeJS.Signals>(
  Object.entries(osc.signals).map(([name, num]) => [num, name as NodeJS.Signals]),
)

/** The name of a signal number, or undefined for one Node does not name (e.g. real-time signals). */
export function signalName(num: number): NodeJS.Signals | undefined {
  return names.get(num)
}
