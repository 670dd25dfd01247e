// --listen as .socket units: systemd binds the sockets and passes them to
// the service as fds 3, 4, ... with LISTEN_FDS/LISTEN_FDNAMES, as the
// launcher does. FileDescriptorName= is per socket unit, so sockets with
// different names need one socket unit each. A unix socket file gets the
// owner and mode the launcher gives it.
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import { optionError } from '../errors.js'
import type { ListenSpec } from '../options/listen-spec.js'
import { UNNAMED } from '../options/listen-spec.js'
import { shown, verbatim } from './quote.js'
import type { UnitFile } from './install.js'

export interface SocketUnits {
  files: UnitFile[]
  notes: string[]
}

/** A file descriptor name as systemd accepts it: printable ASCII but ':', at most 255. */
const FD_NAME = /^[\x21-\x39\x3b-\x7e]{1,255}$/

/**
 * A name as part of a unit name: systemd-escape's \xNN for anything a unit
 * name cannot hold, so two names never meet in one unit.
 */
function unitNamePart(name: string): string {
  return name.replace(/[^A-Za-z0-9:_.]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

/** SocketUser=/SocketGroup=/SocketMode= of unix sockets: what the launcher gives the socket file. */
function unixOwner(owner: SocketOwner): string[] {
  const lines = [`SocketMode=${(0o666 & ~owner.umask).toString(8).padStart(4, '0')}`]
  if (owner.user !== undefined) lines.push(`SocketUser=${String(owner.user)}`)
  if (owner.group !== undefined) lines.push(`SocketGroup=${String(owner.group)}`)
  return lines
}

/** The ListenStream= value of one spec. */
function listenStream(spec: ListenSpec): string {
  if (spec.kind === 'unix') {
    // Relative to the caller's cwd, as start takes it.
    return verbatim('the socket path', resolve(spec.path))
  }
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535) {
    throw optionError(`listen port ${shown(spec.port)}: systemd takes 1 to 65535`)
  }
  if (spec.host === undefined) return String(spec.port)
  const family = isIP(spec.host)
  if (family === 0) {
    throw optionError(`listen host ${shown(spec.host)}: systemd's ListenStream= takes an IP address, not a host name`)
  }
  return family === 6 ? `[${spec.host}]:${spec.port}` : `${spec.host}:${spec.port}`
}

/** Who a unix socket file belongs to, and its mode: as the launcher makes it, the daemon's, 0666 & ~umask. */
export interface SocketOwner {
  user?: string | number
  group?: string | number
  umask: number
}

/**
 * The socket units of `base` for `listen`, in the order given: `service` is
 * the one they activate (Service=), `of` the one they are for (with
 * --instances, the template whose instances all get them).
 */
export function socketUnits(base: string, service: string, listen: ListenSpec[], owner: SocketOwner, of = service): SocketUnits {
  if (listen.length === 0) return { files: [], notes: [] }
  const groups = new Map<string, ListenSpec[]>()
  for (const spec of listen) {
    if (spec.name !== undefined && !FD_NAME.test(spec.name)) {
      throw optionError(`listen name ${shown(spec.name)}: systemd takes printable ASCII without ':' (at most 255)`)
    }
    const name = spec.name ?? UNNAMED
    groups.set(name, [...(groups.get(name) ?? []), spec])
  }
  const files: UnitFile[] = []
  const notes: string[] = []
  for (const [name, specs] of groups) {
    const unitName = groups.size === 1 || name === UNNAMED ? `${base}.socket` : `${base}-${unitNamePart(name)}.socket`
    const unix = specs.some((s) => s.kind === 'unix')
    const lines = [
      `# ${unitName}: the --listen sockets of ${of}; made by node-daemonize unit.`,
      '',
      '[Socket]',
      ...specs.map((s) => `ListenStream=${listenStream(s)}`),
      // The launcher names an unnamed socket "unknown", as sd_listen_fds_with_names() does.
      `FileDescriptorName=${verbatim('the listen name', name)}`,
      ...(unix ? unixOwner(owner) : []),
      `Service=${service}`,
      '',
      '[Install]',
      'WantedBy=sockets.target',
      '',
    ]
    files.push({ name: unitName, text: lines.join('\n'), mode: 0o644 })
  }
  if (groups.size > 1) {
    notes.push('# --listen: one .socket unit per name; systemd passes their fds in no set order: find them by name (LISTEN_FDNAMES)')
  }
  return { files, notes }
}
