// A named daemon root runs as a service user (--user nobody) keeps its log
// in a directory of its own that this user owns (so that a rotation lets it
// make the new file). That directory may belong to the service's user and
// nobody else, with the mode it was made with; everything root does in it
// (the launch's log open, restart's check, `logs`) goes through a checked
// directory fd and an openat of a regular file with one link. Real CLI,
// real `nobody`, root's standard directories under a per-test root.
import { spawnSync } from 'node:child_process'
import { chownSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { native, type UserEntry } from '../src/native.js'
import { fixtures } from './helpers/caller.js'
import { runCli as cli } from './helpers/cli.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { untilLine } from './helpers/files.js'
import { type NamesRoot, startNamed, useNamesRoot } from './helpers/names.js'
import { isAlive, procStatus } from './helpers/proc.js'
import { cleanUpScratchDirs } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()
const names = useNamesRoot()

const entry = join(fixtures, 'lifecycle-hup.js')
const nobody = native().lookupUser('nobody') as UserEntry

/** Run a shell command as the service user (what it can do to its own directory). */
function asNobody(command: string): void {
  const r = spawnSync('sh', ['-c', command], { uid: nobody.uid, gid: nobody.gid, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`as nobody: ${command}: ${r.stderr}`)
}

function uids(pid: number): string[] {
  return procStatus(pid).Uid.split(/\s+/)
}

/** start --name svc --user nobody: its pid, running as nobody. */
async function startService(r: NamesRoot, extra: string[] = []): Promise<number> {
  const { result } = await startNamed([entry, '--name', 'svc', '--user', 'nobody', ...extra], r.env)
  const pid = result.pid as number
  expect(uids(pid)).toEqual(Array(4).fill(String(nobody.uid)))
  expect(result.logFile).toBe(join(r.logs, 'svc', 'svc.log'))
  return pid
}

/** A CLI command that should be refused; whatever it started after all is stopped after the test. */
async function refused(r: NamesRoot, args: string[]): Promise<{ code: number | null; err: string }> {
  const res = await cli([...args, '--json'], r.env)
  if (res.code === 0) track((JSON.parse(res.out) as { pid: number }).pid)
  return res
}

async function stopService(r: NamesRoot, pid: number): Promise<void> {
  const res = await cli(['stop', 'svc'], r.env)
  expect(res.code, res.err).toBe(0)
  await untilGone(pid)
}

describe('a service user\'s own log directory (hardening round 2, defect 4)', () => {
  it('start, stop, start again and restart by name, as --user nobody', async () => {
    const r = names()
    const dir = join(r.logs, 'svc')
    const log = join(dir, 'svc.log')
    const first = await startService(r)
    expect(statSync(dir)).toMatchObject({ uid: nobody.uid, gid: nobody.gid })
    expect(statSync(dir).mode & 0o7777).toBe(0o750)
    await untilLine(log, `pid ${first}: up`)
    await stopService(r, first)

    // Was: "directory …/log/node-daemonize/svc is owned by nobody (uid 65534); refusing to use it".
    const second = await startService(r)
    await untilLine(log, `pid ${second}: up`)
    const res = await cli(['restart', 'svc', '--json'], r.env)
    expect(res.code, res.err).toBe(0)
    const third = track(JSON.parse(res.out).pid as number)
    await untilGone(second)
    expect(uids(third)).toEqual(Array(4).fill(String(nobody.uid)))
    await untilLine(log, `pid ${third}: up`)
    // One log, the service's own, in the same directory, still the user's with its mode.
    expect(statSync(log).uid).toBe(nobody.uid)
    expect(statSync(dir).mode & 0o7777).toBe(0o750)
    expect(readdirSync(dir)).toEqual(['svc.log'])
  })

  it('a failed first start (the entry exits at once) does not block the next one', async () => {
    const r = names()
    const bad = join(r.top, 'exits.js')
    writeFileSync(bad, 'console.log("exiting"); process.exit(3)\n', { mode: 0o644 })
    const failed = await refused(r, ['start', bad, '--name', 'svc', '--user', 'nobody', '--startup-grace', '5s'])
    expect(failed.code).toBe(1)
    expect(failed.err).toContain('exited with code 3')
    // The directory and the log that says why are left, the user's.
    const dir = join(r.logs, 'svc')
    expect(statSync(dir)).toMatchObject({ uid: nobody.uid })
    expect(readFileSync(join(dir, 'svc.log'), 'utf8')).toContain('exiting')

    const pid = await startService(r)
    await untilLine(join(dir, 'svc.log'), `pid ${pid}: up`)
  })

  it('refuses the directory when its user has opened it to others, and restart leaves the old daemon serving', async () => {
    const r = names()
    const dir = join(r.logs, 'svc')
    const pid = await startService(r)
    asNobody(`chmod 0777 '${dir}'`)
    const res = await refused(r, ['restart', 'svc'])
    expect(res.code).toBe(1)
    expect(res.err).toContain(
      `directory ${dir} is owned by nobody (uid ${nobody.uid}) with mode 0777, but a service's own directory must belong to its user, nobody (uid ${nobody.uid}), with mode 0750 (as it was made); refusing to use it`,
    )
    expect(isAlive(pid)).toBe(true)
    const st = await cli(['status', 'svc'], r.env)
    expect(st.code).toBe(0)
    await stopService(r, pid)
    const again = await refused(r, ['start', entry, '--name', 'svc', '--user', 'nobody'])
    expect(again.code).toBe(1)
    expect(again.err).toContain(`directory ${dir} is owned by nobody (uid ${nobody.uid}) with mode 0777`)
    // Back as it was made, the next start goes ahead.
    asNobody(`chmod 0750 '${dir}'`)
    await startService(r)
  })

  it('restart NAME --user another: the directory is the former user\'s, refused before the old daemon stops', async () => {
    const r = names()
    const dir = join(r.logs, 'svc')
    const pid = await startService(r)
    const daemonUser = native().lookupUser('daemon') as UserEntry
    const res = await refused(r, ['restart', 'svc', '--user', 'daemon'])
    expect(res.code).toBe(1)
    expect(res.err).toContain(
      `directory ${dir} is owned by nobody (uid ${nobody.uid}) with mode 0750, but a service's own directory must belong to its user, daemon (uid ${daemonUser.uid})`,
    )
    expect(isAlive(pid)).toBe(true)
    expect((await cli(['status', 'svc'], r.env)).code).toBe(0)
  })

  it('refuses a directory that belongs to someone other than the service\'s user', async () => {
    const r = names()
    const dir = join(r.logs, 'svc')
    await stopService(r, await startService(r))
    chownSync(dir, 54321, nobody.gid)
    const res = await refused(r, ['start', entry, '--name', 'svc', '--user', 'nobody'])
    expect(res.code).toBe(1)
    expect(res.err).toContain(`directory ${dir} is owned by uid 54321 with mode 0750, but a service's own directory must belong to its user, nobody`)
    expect(readdirSync(r.run).filter((f) => f.endsWith('.pid'))).toEqual([])
  })

  it('logs reads the log only from a directory of the service\'s recorded user', async () => {
    const r = names()
    const dir = join(r.logs, 'svc')
    const pid = await startService(r)
    await untilLine(join(dir, 'svc.log'), `pid ${pid}: up`)
    const ok = await cli(['logs', 'svc', '-n', '50'], r.env)
    expect(ok.code, ok.err).toBe(0)
    expect(ok.out).toContain(`pid ${pid}: up`)
    // Another user, alone able to write it, is still not the service's user.
    chownSync(dir, 54321, nobody.gid)
    const res = await cli(['logs', 'svc', '-n', '1'], r.env)
    expect(res.code).toBe(1)
    expect(res.err).toContain(`directory ${dir} is owned by uid 54321, not by the service's user (nobody (uid ${nobody.uid}))`)
    expect(res.out).toBe('')
  })
})

describe('what the service user puts at its log\'s name (hardening round 2, defect 4)', () => {
  const plants: [string, (log: string, dir: string) => string, RegExp, RegExp][] = [
    [
      'a symbolic link to a root-only file',
      (log, dir) => `ln -s '${join(dir, '..', '..', '..', '..', 'secret')}' '${log}'`,
      /log file is a symbolic link: ELOOP: too many symbolic links encountered, openat '.*svc\.log'/,
      /svc\.log is a symbolic link; refusing it/,
    ],
    [
      'a hard link to another of its files',
      (log, dir) => `echo mine > '${dir}/mine' && ln '${dir}/mine' '${log}'`,
      /svc\.log has 2 links; refusing a hard-linked log file/,
      /svc\.log has 2 links; refusing a hard-linked log file/,
    ],
    ['a FIFO', (log) => `mkfifo '${log}'`, /log file is not a regular file: ENXIO/, /svc\.log is not a regular file/],
  ]

  for (const [what, plant, startRefusal, logsRefusal] of plants) {
    it(`${what}: start and logs refuse it, and nothing of root's is touched`, async () => {
      const r = names()
      const secret = join(r.top, 'secret')
      writeFileSync(secret, 'root only\n', { mode: 0o600 })
      const dir = join(r.logs, 'svc')
      const log = join(dir, 'svc.log')
      await stopService(r, await startService(r))
      asNobody(`mv '${log}' '${dir}/old.log' && ${plant(log, dir)}`)

      const res = await refused(r, ['start', entry, '--name', 'svc', '--user', 'nobody'])
      expect(res.code).toBe(1)
      expect(res.err).toMatch(startRefusal)
      const shown = await cli(['logs', 'svc', '-n', '5'], r.env)
      expect(shown.code).toBe(1)
      expect(shown.err).toMatch(logsRefusal)
      expect(shown.out).toBe('')
      const st = statSync(secret)
      expect([st.uid, st.mode & 0o7777, st.nlink, readFileSync(secret, 'utf8')]).toEqual([0, 0o600, 1, 'root only\n'])
      expect(existsSync(join(r.run, 'svc.pid'))).toBe(false)

      // Taken away again, the next start goes ahead in the same directory.
      asNobody(`rm '${log}' && mv '${dir}/old.log' '${log}'`)
      await startService(r)
    })
  }
})
