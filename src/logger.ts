// The toolkit's own log lines, through pino. pino is loaded on first use
// only, so paths that log nothing never pay for it.
import type { Logger } from 'pino'

type PinoModule = typeof import('pino')

let pinoModule: PinoModule | undefined

export function loadPino(): PinoModule {
  if (pinoModule === undefined) {
    // node:module (~0.4 ms to load here) only when a line is written: a
    // launch without a log file writes none.
    const require = process.getBuiltinModule('node:module').createRequire(import.meta.filename)
    pinoModule = require('pino') as PinoModule
  }
  return pinoModule
}

/** A pino logger writing synchronously to an open fd (the caller keeps the fd). */
export function fdLogger(fd: number, bindings: Record<string, unknown> = {}): Logger {
  const pino = loadPino()
  // `dest`, not `fd`: pino fills a missing `dest` with process.stdout.fd,
  // and building process.stdout loads Node's streams (milliseconds).
  const dest = pino.destination({ dest: fd, sync: true })
  return pino({ base: { pid: process.pid, name: 'node-daemonize', ...bindings } }, dest)
}
