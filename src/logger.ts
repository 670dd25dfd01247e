// The toolkit's own log lines, through pino. pino is loaded on first use
// only, so paths that log nothing never pay for it.
import { createRequire } from 'node:module'
import type { Logger } from 'pino'

const require = createRequire(import.meta.filename)

type PinoModule = typeof import('pino')

let pinoModule: PinoModule | undefined

export function loadPino(): PinoModule {
  pinoModule ??= require('pino') as PinoModule
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
