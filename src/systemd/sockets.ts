// --listen as .socket units: systemd binds the sockets and passes them to
// the service as fds 3, 4, ... with LISTEN_FDS/LISTEN_FDNAMES, as the
// launcher does. FileDescriptorName= is per socket unit, so sockets with
// different names need one socket unit each.
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import { optionError } from '../errors.js'
import type { ListenSpec } from '../listen-spec.js'
import { shown, verbatim } from './quote.js'
import type { UnitFile } from './units.js'

export interface SocketUnits {
  files: UnitFile[]
  notes: string[]
}

/** A file descriptor name as systemd accepts it: printable ASCII but ':', at most 255. */
const FD_NAME = /^[\x21-\x39\x3b-\x7e]{1,255}$/

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

/** The socket units of `base` for `listen`, in the order given. */
export function socketUnits(base: string, service: string, listen: ListenSpec[]): SocketUnits {
  if (listen.length === 0) return { files: [], notes: [] }
  const groups = new Map<string | undefined, ListenSpec[]>()
  for (const spec of listen) {
    if (spec.name !== undefined && !FD_NAME.test(spec.name)) {
      throw optionError(`listen name ${shown(spec.name)}: systemd takes printable ASCII without ':' (at most 255)`)
    }
    groups.set(spec.name, [...(groups.get(spec.name) ?? []), spec])
  }
  const files: UnitFile[] = []
  const notes: string[] = []
  for (const [name, specs] of groups) {
    const unitName = groups.size === 1 || name === undefined ? `${base}.socket` : `${base}-${name.replace(/[^A-Za-z0-9:_.-]/g, '-')}.socket`
    const lines = [
      `# ${unitName}: the --listen sockets of ${service}; made by node-daemonize unit.`,
      '',
      '[Socket]',
      ...specs.map((s) => `ListenStream=${listenStream(s)}`),
      ...(name === undefined ? [] : [`FileDescriptorName=${name}`]),
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
  if (groups.has(undefined)) {
    notes.push('# --listen without a name: systemd names those fds after their socket unit')
  }
  if (listen.some((s) => s.kind === 'unix')) {
    notes.push('# --listen unix: systemd creates the socket file (SocketMode=0666, owned by root unless SocketUser=/SocketGroup=)')
  }
  return { files, notes }
}
