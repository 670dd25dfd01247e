// The --listen syntax: every accepted form gives the documented value, and
// every malformed one is refused at stage `options` with the text quoted.
import { describe, expect, it } from 'vitest'
import { DaemonizeError } from '../../src/errors.js'
import { formatListenSpec, parseListenSpec } from '../../src/options/listen-spec.js'

function refused(text: string): DaemonizeError {
  try {
    parseListenSpec(text)
  } catch (e) {
    expect(e).toBeInstanceOf(DaemonizeError)
    return e as DaemonizeError
  }
  throw new Error(`${text} was accepted`)
}

describe('parseListenSpec', () => {
  it.each([
    ['tcp:80', { kind: 'tcp', host: undefined, port: 80, name: undefined }],
    ['tcp:65535', { kind: 'tcp', host: undefined, port: 65535, name: undefined }],
    ['tcp:127.0.0.1:8080', { kind: 'tcp', host: '127.0.0.1', port: 8080, name: undefined }],
    ['tcp:[::1]:8080', { kind: 'tcp', host: '::1', port: 8080, name: undefined }],
    ['tcp:[::]:1', { kind: 'tcp', host: '::', port: 1, name: undefined }],
    ['tcp:0.0.0.0:443,name=https', { kind: 'tcp', host: '0.0.0.0', port: 443, name: 'https' }],
    ['tcp:[fe80::1]:22,name=a.b-c_d@e', { kind: 'tcp', host: 'fe80::1', port: 22, name: 'a.b-c_d@e' }],
    ['unix:/run/app.sock', { kind: 'unix', path: '/run/app.sock', name: undefined }],
    ['unix:rel/app.sock,name=api', { kind: 'unix', path: 'rel/app.sock', name: 'api' }],
    ['unix:/tmp/a,b.sock', { kind: 'unix', path: '/tmp/a,b.sock', name: undefined }],
    ['unix:/tmp/a,name=x.sock,name=y', { kind: 'unix', path: '/tmp/a,name=x.sock', name: 'y' }],
  ])('%s', (text, value) => {
    expect(parseListenSpec(text)).toEqual(value)
    // and back: formatListenSpec gives a text that parses to the same value
    expect(parseListenSpec(formatListenSpec(parseListenSpec(text)))).toEqual(value)
  })

  it.each([
    ['', 'expected tcp:PORT'],
    ['8080', 'expected tcp:PORT'],
    ['udp:53', 'expected tcp:PORT'],
    ['TCP:80', 'expected tcp:PORT'],
    ['tcp:', 'port must be a number'],
    ['tcp:0', 'from 1 to 65535, got 0'],
    ['tcp:65536', 'from 1 to 65535'],
    ['tcp:-1', 'port must be a number'],
    ['tcp:0x50', 'port must be a number'],
    ['tcp:80 ', 'port must be a number'],
    ['tcp:localhost:80', 'host names are not resolved'],
    ['tcp:1.2.3:80', 'not an IP address'],
    ['tcp:::1:80', 'in brackets'],
    ['tcp:[::1:80', 'not closed'],
    ['tcp:[::1]80', 'must follow "]:"'],
    ['tcp:[1.2.3.4]:80', 'not an IPv6 address'],
    ['tcp:[fe80::1%lo]:80', 'an IPv6 zone ("%" and an interface) is not supported'],
    ['tcp:80,backlog=5', 'the only option'],
    ['tcp:80,name=', 'name after ",name=" is empty'],
    ['tcp:80,name=a:b', 'printable ASCII only'],
    ['tcp:80,name=a b', 'printable ASCII only'],
    ['tcp:80,name=é', 'printable ASCII only'],
    [`tcp:80,name=${'n'.repeat(256)}`, 'longer than 255'],
    ['unix:', 'socket path is empty'],
    ['unix:@abstract', 'abstract unix sockets'],
    ['unix:/run/', 'names a directory'],
    ['unix:/run/a\0b', 'NUL byte'],
  ])('refuses %j', (text, why) => {
    const e = refused(text)
    expect(e.stage).toBe('options')
    expect(e.code).toBe('ERR_INVALID_ARG_VALUE')
    expect(e.message).toContain(JSON.stringify(text))
    expect(e.message).toContain(why)
  })

  it('accepts a 255-character name', () => {
    expect(parseListenSpec(`tcp:80,name=${'n'.repeat(255)}`).name).toBe('n'.repeat(255))
  })
})
