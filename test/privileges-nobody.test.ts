// Running the daemon as another user: ids and groups exactly the target's
// (read from /proc), no way back to root, a log it can still write and
// reopen. The refusals and checks before and at the drop:
// privileges-checks.test.ts.
import { closeSync, existsSync, openSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { daemonize } from '../src/index.js'
import { native } from '../src/native.js'
import { execShim } from './helpers/caller.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { completeText, untilLine } from './helpers/files.js'
import { procStatus } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'
import { four, ids, lineWith, nobody, nobodyDirIn, privDaemon, shimEntry } from './helpers/privileges.js'

cleanUpScratchDirs()
cleanUpDaemons()

let dir: string
beforeEach(() => {
  // Root-owned, traversable by everyone, writable only by root.
  dir = scratchDir('nd-priv-', 0o755)
})

/** A directory the target user owns (so it may create files in it). */
function nobodyDir(name = 'logs'): string {
  return nobodyDirIn(dir, name)
}

/** Signal a daemon through a pidfd, so a recycled pid is never hit. */
function signal(pid: number, sig: number): void {
  const pidfd = native().pidfdOpen(pid)
  try {
    native().pidfdSendSignal(pidfd, sig)
  } finally {
    closeSync(pidfd)
  }
}
const SIGHUP = 1
const SIGUSR2 = 12

const O_APPEND = 0o2000
const O_NONBLOCK = 0o4000
const sorted = (a: number[]) => [...a].sort((x, y) => x - y)

describe('a daemon as nobody', () => {
  it('has all four uids and gids and exactly the groups getgrouplist gives (exec shim)', async () => {
    const logs = nobodyDir()
    const log = join(logs, 'shim.log')
    const pidFile = join(dir, 'shim.pid')
    const d = await daemonize({ entry: shimEntry, execPath: execShim, preload: false, user: 'nobody', logFile: log, pidFile })
    track(d.pid)
    const shim = await lineWith(log, 'shim')
    expect(shim).toMatchObject({ pid: d.pid, uid: nobody.uid, gid: nobody.gid })

    // What the caller resolved is what the kernel shows: nothing of root's left.
    const expected = sorted(native().groupList('nobody', nobody.gid))
    expect(expected).toContain(nobody.gid)
    expect(ids(d.pid)).toEqual({ uid: four(nobody.uid), gid: four(nobody.gid), groups: expected })
    expect(d.stages.find((s) => s.stage === 'credentials')).toMatchObject({ err: 0, value: nobody.uid })
    // No capability survives the uid change.
    const status = procStatus(d.pid)
    const none = '0000000000000000'
    expect([status.CapInh, status.CapPrm, status.CapEff, status.CapAmb]).toEqual([none, none, none, none])

    // The log this launch created belongs to the daemon's user; the pid
    // file and its lock file stay the caller's, the pid file holds the
    // daemon's pid, and the lock is held.
    const ls = statSync(log)
    expect({ uid: ls.uid, gid: ls.gid, mode: ls.mode & 0o777 }).toEqual({ uid: nobody.uid, gid: nobody.gid, mode: 0o640 })
    const ps = statSync(pidFile)
    expect({ uid: ps.uid, gid: ps.gid }).toEqual({ uid: 0, gid: 0 })
    expect(readFileSync(pidFile, 'utf8')).toBe(`${d.pid}\n`)
    expect(statSync(`${pidFile}.lock`)).toMatchObject({ uid: 0, gid: 0 })
    const fd = openSync(`${pidFile}.lock`, 'r')
    try {
      expect(native().isLocked(fd)).toBe(true)
    } finally {
      closeSync(fd)
    }
  })

  it('takes an explicit group as its gid, with that group\'s getgrouplist', async () => {
    const daemonGroup = native().lookupGroup('daemon')
    expect(daemonGroup).not.toBeNull()
    const gid = (daemonGroup as { gid: number }).gid
    const log = join(nobodyDir(), 'g.log')
    const d = await daemonize({ entry: shimEntry, execPath: execShim, preload: false, user: 'nobody', group: 'daemon', logFile: log })
    track(d.pid)
    await lineWith(log, 'shim')
    expect(ids(d.pid)).toEqual({
      uid: four(nobody.uid),
      gid: four(gid),
      groups: sorted(native().groupList('nobody', gid)),
    })
    expect(statSync(log)).toMatchObject({ uid: nobody.uid, gid })
  })

  it('runs as a bare uid with no passwd entry when a group is given', async () => {
    const uid = 54321
    expect(native().lookupUser(uid)).toBeNull()
    const log = join(dir, 'bare.log')
    const d = await daemonize({
      entry: shimEntry,
      execPath: execShim,
      preload: false,
      user: uid,
      group: 'nogroup',
      logFile: log,
      env: { ...process.env, HOME: undefined, KEEP: '1' },
    })
    track(d.pid)
    await lineWith(log, 'shim')
    expect(ids(d.pid)).toEqual({ uid: four(uid), gid: four(nobody.gid), groups: [nobody.gid] })
    expect(statSync(log)).toMatchObject({ uid, gid: nobody.gid })
  })

  it('cannot regain root, and can write and reopen its log after rotation (Node daemon)', async () => {
    const logs = nobodyDir()
    const log = join(logs, 'app.log')
    const d = await daemonize({ entry: privDaemon, args: [log], user: 'nobody', logFile: log })
    track(d.pid)
    const report = await lineWith(log, 'setuid0')
    expect(report).toEqual({
      fixture: 'priv-daemon',
      pid: d.pid,
      uid: nobody.uid,
      euid: nobody.uid,
      gid: nobody.gid,
      egid: nobody.gid,
      groups: expect.any(Array),
      setuid0: 'EPERM',
      seteuid0: 'EPERM',
      setgid0: 'EPERM',
      setgroups0: 'EPERM',
    })
    // process.getgroups() adds the egid itself; the kernel's view is /proc.
    expect(ids(d.pid)).toEqual({
      uid: four(nobody.uid),
      gid: four(nobody.gid),
      groups: sorted(native().groupList('nobody', nobody.gid)),
    })

    // logrotate's create mode: rename, then the daemon opens the path again
    // as nobody, creating it in the directory nobody owns.
    renameSync(log, `${log}.1`)
    signal(d.pid, SIGUSR2)
    expect(await lineWith(`${log}.1`, 'reopen')).toEqual({ fixture: 'priv-daemon', reopen: 'ok' })
    expect(await lineWith(log, 'reopened')).toEqual({ fixture: 'priv-daemon', reopened: true, pid: d.pid })
    expect(statSync(log)).toMatchObject({ uid: nobody.uid, gid: nobody.gid })
  })

  it('reopens its log on SIGHUP after rotation through the preload, as nobody', async () => {
    const logs = nobodyDir()
    const log = join(logs, 'app.log')
    const d = await daemonize({ entry: privDaemon, args: [log], user: 'nobody', logFile: log })
    track(d.pid)
    await lineWith(log, 'setuid0')
    renameSync(log, `${log}.1`)
    signal(d.pid, SIGHUP)
    expect(await lineWith(log, 'hup')).toEqual({ fixture: 'priv-daemon', hup: d.pid })
    expect(statSync(log)).toMatchObject({ uid: nobody.uid, gid: nobody.gid })
    expect(readFileSync(`${log}.1`, 'utf8')).not.toContain('"hup"')
  })

  it('reopens a log this launch created and chowned, even in a root-owned directory; creating one there is refused', async () => {
    const log = join(dir, 'app.log')
    const d = await daemonize({ entry: privDaemon, args: [log], user: 'nobody', logFile: log })
    track(d.pid)
    await lineWith(log, 'setuid0')
    expect(statSync(log)).toMatchObject({ uid: nobody.uid, gid: nobody.gid })
    expect(statSync(dir)).toMatchObject({ uid: 0 })

    // Same path, same file: opening it again works because it is nobody's.
    signal(d.pid, SIGUSR2)
    expect(await lineWith(log, 'reopen')).toEqual({ fixture: 'priv-daemon', reopen: 'ok' })
    expect(await lineWith(log, 'reopened')).toMatchObject({ pid: d.pid })

    // After a rename, creating the file needs a directory nobody may write.
    renameSync(log, `${log}.1`)
    signal(d.pid, SIGUSR2)
    await untilLine(`${log}.1`, '"reopen":"EACCES"')
    expect(existsSync(log)).toBe(false)
    // The preload's SIGHUP reopen meets the same refusal: it says so in the
    // old file and keeps writing there.
    signal(d.pid, SIGHUP)
    await untilLine(`${log}.1`, `"hup":${d.pid}`)
    expect(completeText(`${log}.1`)).toContain('cannot reopen the log')
    expect(existsSync(log)).toBe(false)
  })

  it('never chowns an existing log owned by root, and still writes to it through the fd it was given', async () => {
    const log = join(dir, 'root.log')
    writeFileSync(log, 'before\n', { mode: 0o600 })
    const d = await daemonize({ entry: shimEntry, execPath: execShim, preload: false, user: 'nobody', logFile: log })
    track(d.pid)
    const shim = await lineWith(log, 'shim')
    expect(shim).toMatchObject({ pid: d.pid, uid: nobody.uid })
    // Opened without blocking on a FIFO, but handed over as a plain append fd.
    const out = (shim.fds as { fd: number; flags: number }[]).find((f) => f.fd === 1)
    expect(out).toBeDefined()
    expect((out as { flags: number }).flags & (O_NONBLOCK | O_APPEND)).toBe(O_APPEND)
    expect(readFileSync(log, 'utf8').startsWith('before\n')).toBe(true)
    const st = statSync(log)
    expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ uid: 0, gid: 0, mode: 0o600 })
  })
})
