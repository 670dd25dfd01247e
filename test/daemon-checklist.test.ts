// What every daemon must look like (the list at the top of README.md), checked from /proc and from an
// exec shim that shows the state exactly as exec left it, for a daemon
// launched from a hostile shell: a controlling tty, umask 0002, cwd /tmp,
// SIGUSR1 blocked, SIGUSR2 and SIGRTMIN+5 ignored, fds 7, 8, 20, 70 open
// without close-on-exec.
import { spawnSync } from 'node:child_process'
import { openSync, readFileSync, closeSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { native } from '../src/native.js'
import { execShim, fixtures, root, runCaller } from './helpers/caller.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { untilLine } from './helpers/files.js'
import { until } from './helpers/wait.js'
import { fdFlags, procCwd, procFds, procStat, procStatus } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

let dir: string
beforeEach(() => {
  dir = scratchDir('nd-checklist-')
})

interface ShimReport {
  pid: number
  ppid: number
  sid: number
  pgid: number
  ttyNr: number
  cwd: string
  umask: string
  sigBlk: string
  sigIgn: string
  fds: { fd: number; target: string; flags: number; cloexec: boolean }[]
}

async function shimReport(log: string): Promise<ShimReport> {
  return JSON.parse(await untilLine(log, (l) => l.startsWith('{"shim"'), { what: "the exec shim's report" }))
}

const O_APPEND = 0o2000
const O_ACCMODE = 0o3

describe('a daemon launched from a hostile shell', () => {
  it('is clean at the moment of exec (exec shim)', async () => {
    const log = join(dir, 'shim.log')
    const pidFile = join(dir, 'shim.pid')
    const r = runCaller(
      { entry: join(fixtures, 'daemon-reporter.mjs'), execPath: execShim, preload: false, logFile: log, pidFile },
      { hostile: true },
    )
    expect(r.ok, r.output).toBe(true)
    const d = r.daemon!
    track(d.pid)
    const s = await shimReport(log)

    expect(s.pid).toBe(d.pid)
    // not a session leader, in a new session led by the helper, not the caller's
    expect(s.sid).not.toBe(s.pid)
    expect(s.sid).toBe(d.helperPid)
    expect(s.sid).toBe(d.sid)
    expect(s.sid).not.toBe(r.caller.sid)
    expect(s.pgid).toBe(s.sid)
    expect(d.pgid).toBe(s.sid)
    // no controlling tty
    expect(s.ttyNr).toBe(0)
    expect(s.cwd).toBe('/')
    expect(s.umask).toBe('0022')
    // nothing blocked or ignored, real-time signals included
    expect(s.sigBlk).toBe('0000000000000000')
    expect(s.sigIgn).toBe('0000000000000000')
    // fds: 0 /dev/null, 1 and 2 the log (append), 3 the locked lock file; nothing else (not the pid file)
    const fds = Object.fromEntries(s.fds.map((f) => [f.fd, f]))
    expect(s.fds.map((f) => f.fd).sort((a, b) => a - b)).toEqual([0, 1, 2, 3])
    expect(fds[0].target).toBe('/dev/null')
    expect(fds[1].target).toBe(log)
    expect(fds[2].target).toBe(log)
    expect(fds[1].flags & O_APPEND).toBe(O_APPEND)
    expect(fds[1].flags & O_ACCMODE).toBe(1)
    expect(fds[3].target).toBe(`${pidFile}.lock`)
    for (const f of s.fds) expect(f.cloexec).toBe(false)
    // reparented once the helper left
    await until(`pid ${d.pid} to be reparented to 1`, () => procStat(d.pid).ppid === 1, { seen: () => procStat(d.pid) })
    // the pid file holds the daemon's pid (the helper wrote it), and the daemon holds the lock
    expect(readFileSync(pidFile, 'utf8')).toBe(`${d.pid}\n`)
    const ro = openSync(`${pidFile}.lock`, 'r')
    try {
      expect(native().isLocked(ro)).toBe(true)
    } finally {
      closeSync(ro)
    }
    expect(r.daemon!.stages).toEqual([
      'setsid', 'fork', 'pidfile', 'session', 'umask', 'rlimit', 'chdir', 'entry', 'stdio', 'fds', 'signals', 'exec',
    ])
  })

  it('runs a real Node entry with its arguments, cwd /, no tty and no leaked fd', async () => {
    const log = join(dir, 'node.log')
    const report = join(dir, 'report.json')
    const r = runCaller(
      { entry: join(fixtures, 'daemon-reporter.mjs'), args: [report, 'two words', '', '$HOME'], logFile: log },
      { hostile: true },
    )
    expect(r.ok, r.output).toBe(true)
    const d = r.daemon!
    track(d.pid)
    // daemon-reporter writes it to a temporary name and renames it: once there, it is whole.
    await until(`daemon-reporter's report ${report}`, () => existsSync(report))
    const seen = JSON.parse(readFileSync(report, 'utf8'))
    // the entry really ran (a wrong argv would have opened a REPL on /dev/null and exited 0)
    expect(seen.pid).toBe(d.pid)
    expect(seen.argv).toEqual([report, 'two words', '', '$HOME'])
    expect(seen.cwd).toBe('/')
    expect(seen.sid).toBe(d.helperPid)
    expect(seen.sid).not.toBe(d.pid)
    expect(seen.ttyNr).toBe(0)
    expect(seen.umask).toBe(0o022)
    // the caller's fds 7, 8, 20 and 70 (not close-on-exec) never arrived
    for (const fd of ['7', '8', '20', '70']) expect(seen.fds[fd] === '/dev/null').toBe(false)
    expect(Object.keys(seen.fds).filter((fd) => Number(fd) >= 64)).toEqual([])
    // seen from outside as well
    const st = procStat(d.pid)
    expect(st.session).toBe(d.sid)
    expect(st.ttyNr).toBe(0)
    expect(procCwd(d.pid)).toBe('/')
    expect(procStatus(d.pid).Umask).toBe('0022')
    const fds = procFds(d.pid)
    expect(fds.get(0)).toBe('/dev/null')
    expect(fds.get(1)).toBe(log)
    expect(fds.get(2)).toBe(log)
    expect(fdFlags(d.pid, 1) & O_APPEND).toBe(O_APPEND)
    expect([...fds.values()]).not.toContain('/dev/tty')
    await untilLine(log, /daemon-reporter \d+ up/)
  })

  it('applies the umask and cwd it is given', async () => {
    const log = join(dir, 'umask.log')
    const r = runCaller(
      { entry: join(fixtures, 'daemon-reporter.mjs'), execPath: execShim, preload: false, logFile: log, umask: 0o027, cwd: dir },
      { hostile: true },
    )
    expect(r.ok, r.output).toBe(true)
    track(r.daemon!.pid)
    const s = await shimReport(log)
    expect(s.umask).toBe('0027')
    expect(s.cwd).toBe(dir)
    // without a pid file, fd 3 is not there either
    expect(s.fds.map((f) => f.fd).sort((a, b) => a - b)).toEqual([0, 1, 2])
  })

  it('sends stdout and stderr to /dev/null without a log file', async () => {
    const r = runCaller({ entry: join(fixtures, 'daemon-reporter.mjs'), execPath: execShim, preload: false }, { hostile: true })
    expect(r.ok, r.output).toBe(true)
    const pid = track(r.daemon!.pid)
    await until(`pid ${pid} to have only fds 0-2`, () => procFds(pid).size === 3, { seen: () => [...procFds(pid)] })
    const fds = procFds(pid)
    expect([fds.get(0), fds.get(1), fds.get(2)]).toEqual(['/dev/null', '/dev/null', '/dev/null'])
  })

  it('comes out the same through the CLI', async () => {
    const log = join(dir, 'cli.log')
    const pidFile = join(dir, 'cli.pid')
    const r = spawnSync(
      'python3',
      [join(fixtures, 'hostile-launch.py'), process.execPath, join(root, 'bin', 'node-daemonize.js'), 'start', join(fixtures, 'daemon-reporter.mjs'),
        '--exec-path', execShim, '--no-preload', '--log-file', log, '--pid-file', pidFile, '--startup-grace', '0', '--json'],
      { encoding: 'utf8', timeout: 60_000 },
    )
    expect(r.status, r.stdout + r.stderr).toBe(0)
    const d = JSON.parse(r.stdout.trim().split('\n').at(-1) as string)
    track(d.pid)
    const s = await shimReport(log)
    expect(s.pid).toBe(d.pid)
    expect(s.sid).toBe(d.sid)
    expect(s.sid).not.toBe(s.pid)
    expect(s.ttyNr).toBe(0)
    expect([s.cwd, s.umask, s.sigBlk, s.sigIgn]).toEqual(['/', '0022', '0000000000000000', '0000000000000000'])
    expect(s.fds.map((f) => f.fd).sort((a, b) => a - b)).toEqual([0, 1, 2, 3])
  })
})
