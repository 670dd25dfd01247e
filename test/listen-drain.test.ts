// drain() on TERM, as docs/sockets.md shows it: the daemon stops accepting,
// leaves an idle keep-alive connection open and answers its next request
// with `Connection: close` (closing it at once would reset a request already
// on its way: issue 21), answers the request in flight with `Connection:
// close`, and exits once every connection ended.
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { daemonize } from '../src/index.js'
import { fixtures } from './helpers/caller.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { untilLine } from './helpers/files.js'
import { freePort, refusedProbe } from './helpers/net.js'
import { until } from './helpers/wait.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

const httpDaemon = join(fixtures, 'daemon-listen-http.mjs')
let dir: string
beforeEach(() => {
  dir = scratchDir('nd-listen-drain-')
})

/** A raw HTTP/1.1 connection: what it received, and whether the server ended it. */
function open(port: number): Promise<{ socket: Socket; text: () => string; ended: () => boolean }> {
  return new Promise((resolve, reject) => {
    let text = ''
    let ended = false
    const socket = connect(port, '127.0.0.1', () => resolve({ socket, text: () => text, ended: () => ended }))
    socket.setEncoding('utf8')
    socket.on('data', (s: string) => (text += s))
    socket.on('end', () => (ended = true))
    socket.on('close', () => (ended = true))
    socket.on('error', reject)
  })
}

const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n`

describe('drain() on SIGTERM', () => {
  it('keeps the idle keep-alive connection open and answers its next request with Connection: close, answers the one in flight with Connection: close, then exits', async () => {
    const port = await freePort()
    const log = join(dir, 'app.log')
    const d = await daemonize({ entry: httpDaemon, logFile: log, waitReadyMs: 15_000, listen: [`tcp:127.0.0.1:${port}`] })
    track(d.pid)

    const idle = await open(port)
    idle.socket.write(request('/'))
    await until('the keep-alive answer', () => idle.text().includes(`hello from ${d.pid}`))
    expect(idle.text()).toMatch(/\r\nConnection: keep-alive\r\n/i)

    const busy = await open(port)
    busy.socket.write(request('/slow/1500'))
    await untilLine(log, '{"slow":1500')

    process.kill(d.pid, 'SIGTERM')
    // The drain has begun once the port (a one-shot daemon's own) refuses connections.
    await until('the port to refuse connections', refusedProbe(port))
    expect(idle.ended()).toBe(false)
    expect(busy.ended()).toBe(false)
    expect(busy.text()).toBe('')

    const first = idle.text()
    idle.socket.write(request('/'))
    await until('the idle connection\'s next request to be answered and its connection closed', () => idle.ended())
    const second = idle.text().slice(first.length)
    expect(second).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(second).toMatch(/\r\nConnection: close\r\n/i)
    expect(second).toContain(`hello from ${d.pid}`)

    await until('the request in flight to be answered and its connection closed', () => busy.ended())
    expect(busy.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(busy.text()).toMatch(/\r\nConnection: close\r\n/i)
    expect(busy.text()).toContain(`slow 1500 from ${d.pid}`)
    await untilLine(log, `{"drained":[true],"pid":${d.pid}}`)
    await untilGone(d.pid)
  })
})
