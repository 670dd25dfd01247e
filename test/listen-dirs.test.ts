// The directories on a `--listen unix:PATH`: reached from / through fds,
// each one passing the state directories' rule (owned by root or the
// caller, writable by nobody else unless sticky), a symbolic link followed
// only when root or the caller owns it. Real CLI as root, real `nobody`.
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { native, type UserEntry } from '../src/native.js'
import { fixtures } from './helpers/caller.js'
import { runCli as cli } from './helpers/cli.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { get } from './helpers/net.js'
import { childrenOf } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

const httpDaemon = join(fixtures, 'daemon-listen-http.mjs')
const nobody = native().lookupUser('nobody') as UserEntry

let top: string
let rootOnly: string
beforeEach(() => {
  // Root's, traversable by all, writable by root alone; in it a directory only root may enter.
  top = scratchDir('nd-listen-dirs-')
  chmodSync(top, 0o755)
  rootOnly = join(top, 'root-only')
  mkdirSync(rootOnly, 0o700)
})

/** What the service user can do (a link in a directory it can write). */
function asNobody(command: string): void {
  const r = spawnSync('sh', ['-c', command], { uid: nobody.uid, gid: nobody.gid, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`as nobody: ${command}: ${r.stderr}`)
}

/** `start` of the HTTP daemon as nobody on one unix socket. */
function start(socket: string) {
  return cli([
    'start', httpDaemon, '--user', 'nobody', '--listen', `unix:${socket}`, '--log-file', join(top, 'app.log'),
    '--pid-file', join(top, 'app.pid'), '--wait-ready', '15s', '--json',
  ])
}

/** The refusal, and nothing made: no socket in the root-only directory, no log, no pid file, no process. */
async function expectRefused(socket: string, message: string): Promise<void> {
  const before = childrenOf(process.pid)
  const res = await start(socket)
  // Started after all (the defect): stopped after the test like any other.
  if (res.code === 0) track((JSON.parse(res.out) as { pid: number }).pid)
  expect(res.code, res.out).toBe(1)
  expect(res.err).toContain(`cannot listen on unix:${socket}: ${message}`)
  expect(readdirSync(rootOnly)).toEqual([])
  expect(existsSync(join(top, 'app.log'))).toBe(false)
  expect(existsSync(join(top, 'app.pid'))).toBe(false)
  expect(childrenOf(process.pid)).toEqual(before)
}

describe('--listen unix: the directories on the path (hardening round 2, defect 8)', () => {
  it('a link the service user planted in its own directory is not followed into a root-only one', async () => {
    const uown = join(top, 'uown')
    mkdirSync(uown, 0o755)
    chownSync(uown, nobody.uid, nobody.gid)
    asNobody(`ln -s '${rootOnly}' '${uown}/sub'`)
    await expectRefused(join(uown, 'sub', 'app.sock'), `directory ${uown} is owned by nobody (uid ${nobody.uid}); refusing to use it`)
  })

  it('a link another user put in a sticky directory anyone can write (as /tmp) is not followed', async () => {
    const shared = join(top, 'shared')
    mkdirSync(shared)
    chmodSync(shared, 0o1777)
    asNobody(`ln -s '${rootOnly}' '${shared}/sub'`)
    await expectRefused(
      join(shared, 'sub', 'app.sock'),
      `directory ${join(shared, 'sub')} is a symbolic link owned by nobody (uid ${nobody.uid}); refusing to use it`,
    )
  })

  it('a directory others can write (not sticky) on the way is refused', async () => {
    const open = join(top, 'open')
    mkdirSync(open)
    chmodSync(open, 0o777)
    asNobody(`ln -s '${rootOnly}' '${open}/sub'`)
    await expectRefused(join(open, 'sub', 'app.sock'), `directory ${open} is writable by group or others; refusing to use it`)
  })

  it('root\'s own links in root\'s directories still lead to the socket (as /var/run -> /run)', async () => {
    const real = join(top, 'real')
    mkdirSync(real, 0o755)
    const etc = join(top, 'etc')
    mkdirSync(etc, 0o755)
    // One relative (through ..), one absolute, in a row.
    symlinkSync('../real', join(etc, 'run'))
    symlinkSync(join(etc, 'run'), join(top, 'var-run'))
    const socket = join(top, 'var-run', 'app.sock')
    const res = await start(socket)
    expect(res.code, res.err).toBe(0)
    const out = JSON.parse(res.out) as { pid: number }
    track(out.pid)
    const st = lstatSync(join(real, 'app.sock'))
    expect(st.isSocket()).toBe(true)
    expect(st.uid).toBe(nobody.uid)
    expect((await get({ path: socket }, '/')).body).toBe(`hello from ${out.pid}`)
    expect(readdirSync(real)).toEqual(['app.sock'])
  })
})
