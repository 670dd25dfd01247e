// The sockets a launch is given (the `listen` and `listenInherited`
// options, checked in listen.ts), resolved: each spec parsed, its unix path
// made absolute, systemd's own sockets looked at. Reached through
// listenGiven() (listen-given-part.ts), with the spec grammar, so that the
// CLI compiles it only when sockets are given.
import { fstatSync } from 'node:fs'
import { resolve } from 'node:path'
import { addon } from '../addon.js'
import { optionError } from '../errors.js'
import { type Listener, type ListenSpec, parseListenSpec, UNNAMED } from './listen-spec.js'

export { formatListenSpec, parseListenSpec } from './listen-spec.js'

/** sun_path holds 108 bytes with its NUL: a longer path cannot be connected to. */
const UNIX_PATH_MAX = 107
/** systemd's first passed fd. */
const SD_LISTEN_FDS_START = 3

/** A spec as its address reads in messages: tcp:[::]:80, unix:/run/app.sock. */
function addressOf(spec: ListenSpec): string {
  if (spec.kind === 'unix') return `unix:${spec.path}`
  if (spec.host === undefined) return `tcp:${spec.port} (every address)`
  return spec.host.includes(':') ? `tcp:[${spec.host}]:${spec.port}` : `tcp:${spec.host}:${spec.port}`
}

/**
 * The sockets this process was itself started with by systemd (socket
 * activation): LISTEN_PID must be our pid. Each must be an open socket.
 */
function inheritedListeners(): Listener[] {
  const env = process.env
  if (env.LISTEN_PID === undefined || env.LISTEN_FDS === undefined) {
    throw optionError('listenInherited (--listen-inherited): this process was not started with sockets (LISTEN_PID and LISTEN_FDS are not set)')
  }
  if (env.LISTEN_PID !== String(process.pid)) {
    throw optionError(`listenInherited (--listen-inherited): LISTEN_PID is ${env.LISTEN_PID}, not this process (${process.pid}): the sockets are not ours`)
  }
  if (!/^[0-9]{1,4}$/.test(env.LISTEN_FDS)) throw optionError(`listenInherited (--listen-inherited): LISTEN_FDS is not a count: ${env.LISTEN_FDS}`)
  const n = Number(env.LISTEN_FDS)
  const names = env.LISTEN_FDNAMES === undefined ? [] : env.LISTEN_FDNAMES.split(':')
  const out: Listener[] = []
  for (let i = 0; i < n; i++) {
    const fd = SD_LISTEN_FDS_START + i
    let isSocket = false
    try {
      isSocket = fstatSync(fd).isSocket()
    } catch {
      // not open: refused below
    }
    if (!isSocket) throw optionError(`listenInherited (--listen-inherited): fd ${fd} (of LISTEN_FDS=${n}) is not an open socket`)
    const name = names[i] !== undefined && names[i] !== '' ? names[i] : UNNAMED
    out.push({ inheritedFd: fd, name, address: `inherited fd ${fd} (${name})` })
  }
  return out
}

/**
 * The sockets given (options/listen.ts checked the options' types):
 * inherited ones first, in their order, then each spec in its order.
 * Opens nothing.
 */
export function resolveGivenListeners(listen: unknown[] | undefined, listenInherited: boolean): Listener[] {
  const out: Listener[] = listenInherited ? inheritedListeners() : []
  for (const [i, text] of (listen ?? []).entries()) {
    if (typeof text !== 'string') throw optionError(`listen[${i}] must be a string, got ${typeof text}`)
    let spec = parseListenSpec(text)
    if (spec.kind === 'unix') {
      spec = { ...spec, path: resolve(spec.path) }
      if (Buffer.byteLength(spec.path) > UNIX_PATH_MAX) {
        throw optionError(`--listen ${JSON.stringify(text)}: the socket path ${spec.path} is longer than ${UNIX_PATH_MAX} bytes`, spec.path)
      }
    }
    out.push({ spec, name: spec.name ?? UNNAMED, address: addressOf(spec) })
  }
  if (out.length === 0) return out
  const max = addon().constants.ND_PLAN_SOCKETS_MAX
  if (out.length > max) throw optionError(`at most ${max} listening sockets, got ${out.length}`)
  const seen = new Set<string>()
  for (const l of out) {
    if ('spec' in l && l.spec.kind === 'unix') {
      if (seen.has(l.spec.path)) throw optionError(`the socket path ${l.spec.path} is given twice`, l.spec.path)
      seen.add(l.spec.path)
    }
  }
  return out
}
