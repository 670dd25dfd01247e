// The text of one --listen (API `listen: string[]`), as a value: nothing is
// resolved or opened here. Syntax (docs/sockets.md):
//
//   tcp:PORT           every address, IPv6 dual-stack (IPv4 alone without IPv6)
//   tcp:HOST:PORT      HOST an IPv4 address: tcp:127.0.0.1:8080
//   tcp:[HOST]:PORT    HOST an IPv6 address: tcp:[::1]:8080
//   unix:PATH          a unix stream socket; a relative PATH is taken from the caller's cwd
//
// each optionally followed by `,name=NAME` (the name the daemon sees in
// LISTEN_FDNAMES). The name is the spec's last `,name=` suffix, so a unix
// path may itself contain commas. Hosts are numeric addresses only: a host
// name can resolve to several addresses, or to none at the moment of start.
import { optionError } from '../errors.js'

// node:net only when an address is checked: loading it (streams, tcp_wrap) at the
// top cost every CLI start, --listen or not, several milliseconds.
const ip = () => process.getBuiltinModule('node:net')

export type ListenSpec =
  | { kind: 'tcp'; host: string | undefined; port: number; name: string | undefined }
  | { kind: 'unix'; path: string; name: string | undefined }

/** The longest name systemd accepts in LISTEN_FDNAMES (FDNAME_MAX). */
export const LISTEN_NAME_MAX = 255

const NAME_SUFFIX = ',name='

function bad(text: string, why: string): never {
  throw optionError(`--listen ${JSON.stringify(text)}: ${why}`)
}

/**
 * A name as systemd's fdname_is_valid() takes it, less the characters this
 * syntax needs: printable ASCII without space, ':' (LISTEN_FDNAMES'
 * separator) or ',' (ours).
 */
function checkName(text: string, name: string): string {
  if (name === '') bad(text, 'the name after ",name=" is empty')
  if (name.length > LISTEN_NAME_MAX) bad(text, `the name is longer than ${LISTEN_NAME_MAX} characters`)
  for (const ch of name) {
    const c = ch.codePointAt(0) as number
    if (c <= 0x20 || c >= 0x7f || ch === ':' || ch === ',') {
      bad(text, `the name may hold printable ASCII only, without space, ':' or ',' (found ${JSON.stringify(ch)})`)
    }
  }
  return name
}

function checkPort(text: string, port: string): number {
  if (!/^[0-9]{1,5}$/.test(port)) bad(text, `the port must be a number from 1 to 65535, got ${JSON.stringify(port)}`)
  const n = Number(port)
  if (n < 1 || n > 65535) bad(text, `the port must be a number from 1 to 65535, got ${port}`)
  return n
}

function parseTcp(text: string, rest: string, name: string | undefined): ListenSpec {
  if (rest.includes(',')) bad(text, 'the only option is ",name=NAME", at the end')
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']')
    if (close < 0) bad(text, 'an IPv6 address opened with "[" is not closed with "]"')
    const host = rest.slice(1, close)
    if (host.includes('%')) bad(text, 'an IPv6 zone ("%" and an interface) is not supported: give a global or loopback address')
    if (!ip().isIPv6(host)) bad(text, `${JSON.stringify(host)} is not an IPv6 address`)
    if (rest[close + 1] !== ':') bad(text, 'a port must follow "]:", as in tcp:[::1]:8080')
    return { kind: 'tcp', host, port: checkPort(text, rest.slice(close + 2)), name }
  }
  const colon = rest.lastIndexOf(':')
  if (colon < 0) return { kind: 'tcp', host: undefined, port: checkPort(text, rest), name }
  const host = rest.slice(0, colon)
  if (ip().isIPv6(host)) bad(text, 'an IPv6 address goes in brackets, as in tcp:[::1]:8080')
  if (!ip().isIPv4(host)) {
    bad(text, `${JSON.stringify(host)} is not an IP address (host names are not resolved: give the address)`)
  }
  return { kind: 'tcp', host, port: checkPort(text, rest.slice(colon + 1)), name }
}

function parseUnix(text: string, path: string, name: string | undefined): ListenSpec {
  if (path === '') bad(text, 'the socket path is empty')
  if (path.startsWith('@')) bad(text, 'abstract unix sockets ("@...") are not supported: give a file path')
  if (path.endsWith('/')) bad(text, 'the socket path names a directory')
  return { kind: 'unix', path, name }
}

/**
 * A spec as text again, in the form parseListenSpec reads back to the same
 * value (the name last; an IPv6 host in brackets).
 */
export function formatListenSpec(spec: ListenSpec): string {
  const name = spec.name === undefined ? '' : `${NAME_SUFFIX}${spec.name}`
  if (spec.kind === 'unix') return `unix:${spec.path}${name}`
  if (spec.host === undefined) return `tcp:${spec.port}${name}`
  return spec.host.includes(':') ? `tcp:[${spec.host}]:${spec.port}${name}` : `tcp:${spec.host}:${spec.port}${name}`
}

/** Parse one listen spec; throws a DaemonizeError (stage `options`) on bad syntax. */
export function parseListenSpec(text: string): ListenSpec {
  if (typeof text !== 'string') throw optionError(`a listen spec must be a string, got ${typeof text}`)
  if (text.includes('\0')) bad(text, 'must not contain a NUL byte')
  let body = text
  let name: string | undefined
  const at = text.lastIndexOf(NAME_SUFFIX)
  if (at >= 0) {
    name = checkName(text, text.slice(at + NAME_SUFFIX.length))
    body = text.slice(0, at)
  }
  const colon = body.indexOf(':')
  const kind = colon < 0 ? '' : body.slice(0, colon)
  const rest = body.slice(colon + 1)
  if (kind === 'tcp') return parseTcp(text, rest, name)
  if (kind === 'unix') return parseUnix(text, rest, name)
  return bad(text, 'expected tcp:PORT, tcp:HOST:PORT, tcp:[IPV6]:PORT or unix:PATH, optionally with ",name=NAME"')
}

/** The name of a socket given none (sd_listen_fds_with_names says "unknown" too). */
export const UNNAMED = 'unknown'

/** One socket the daemon gets: to open from a spec, or handed on from our own activation. */
export type Listener =
  | { spec: ListenSpec; name: string; address: string }
  | { inheritedFd: number; name: string; address: string }
