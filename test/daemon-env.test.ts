// The daemon side: what the preload leaves behind. The NODE_DAEMONIZE_*
// variables and the ready pipe reach the daemon and never its children;
// SIGHUP is caught only when there is a log to reopen, and a daemon's own
// SIGHUP handler keeps working; ready() outside a daemon does nothing.
import { spawnSync } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { daemonize, type DaemonizeOptions } from '../src/index.js'
import { fixtures } from './helpers/caller.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { completeText, readAll } from './helpers/files.js'
import { until } from './helpers/wait.js'
import { isAlive, procFds, procStatus } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

const idle = join(fixtures, 'daemon-idle.js')

let dir: string
beforeEach(() => {
  dir = scratchDir('nd-env-')
})

/** What the daemon has written so far, in complete lines (it may be writing). */
const read = completeText

function environ(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean)
}

/** Does pid catch SIGHUP (bit 0 of SigCgt), as `reload` checks? */
function catchesHup(pid: number): boolean {
  return (BigInt(`0x${procStatus(pid).SigCgt}`) & 1n) === 1n
}

async function start(options: Partial<DaemonizeOptions>): Promise<number> {
  // Wait for ready(): by then the preload and the fixture's own set-up ran.
  const d = await daemonize({ entry: idle, waitReadyMs: 20_000, ...options })
  return track(d.pid)
}

describe('the daemon\'s children', () => {
  it('see neither the ready pipe nor the pid-file lock nor any NODE_DAEMONIZE_* variable', async () => {
    const log = join(dir, 'd.log')
    const pidFile = join(dir, 'd.pid')
    const d = await daemonize({
      entry: join(fixtures, 'daemon-spawner.js'),
      logFile: log,
      pidFile,
      waitReadyMs: 20_000,
      env: { ...process.env, NODE_DAEMONIZE_FROM_CALLER: 'x' },
    })
    track(d.pid)
    const line = read(log)
      .split('\n')
      .find((l) => l.startsWith('{"child"'))
    const child = track((JSON.parse(line as string) as { child: number }).child)
    // The daemon got them at exec (its initial environment)...
    expect(environ(d.pid)).toEqual(expect.arrayContaining([`NODE_DAEMONIZE_LOG_FILE=${log}`, 'NODE_DAEMONIZE_READY_FD=4']))
    // ...but never the caller's own NODE_DAEMONIZE_* variables.
    expect(environ(d.pid).filter((v) => v.startsWith('NODE_DAEMONIZE_FROM_CALLER'))).toEqual([])
    // The child was spawned while fd 4 was still the ready pipe.
    expect(environ(child).filter((v) => v.startsWith('NODE_DAEMONIZE_'))).toEqual([])
    const fds = procFds(child)
    expect([...fds.keys()].sort()).toEqual([0, 1, 2])
    expect([...fds.values()]).toEqual(['/dev/null', '/dev/null', '/dev/null'])
  })
})

describe('SIGHUP', () => {
  it('is caught with the preload and a log file', async () => {
    const pid = await start({ logFile: join(dir, 'd.log') })
    expect(catchesHup(pid)).toBe(true)
  })

  it('is not caught without the preload', async () => {
    const pid = await start({ logFile: join(dir, 'd.log'), preload: false })
    expect(catchesHup(pid)).toBe(false)
  })

  it('keeps its default meaning with no log file to reopen', async () => {
    const pid = await start({})
    expect(catchesHup(pid)).toBe(false)
  })

  it('does not end a daemon that has no handler of its own: the log is reopened instead', async () => {
    const log = join(dir, 'd.log')
    const pid = await start({ logFile: log })
    renameSync(log, `${log}.1`)
    process.kill(pid, 'SIGHUP')
    // Only the preload's handler creates the file again; had SIGHUP's
    // default action run, the daemon would be dead and the file absent.
    await until(`${log} to be created again`, () => existsSync(log))
    expect(isAlive(pid)).toBe(true)
  })

  it('a daemon\'s own handler keeps working, with the preload\'s reopen before it', async () => {
    const log = join(dir, 'd.log')
    const marker = join(dir, 'hups')
    const pid = await start({ logFile: log, args: ['--hup-marker', marker] })
    for (let k = 1; k <= 2; k++) {
      renameSync(log, `${log}.${k}`)
      process.kill(pid, 'SIGHUP')
      await until(`"hup ${k}" in ${marker}`, () => read(marker).includes(`hup ${k}\n`), { seen: () => read(marker) })
      // The handler writes the marker first and its log line after it.
      await until(`the handler's line in the new ${log}`, () => read(log) !== '')
      expect(read(log)).toBe(`own handler: hup ${k}\n`)
    }
    expect(read(marker)).toBe('hup 1\nhup 2\n')
    expect(isAlive(pid)).toBe(true)
  })

  it('a daemon\'s own handler keeps working without a log file', async () => {
    const marker = join(dir, 'hups')
    const pid = await start({ args: ['--hup-marker', marker] })
    expect(catchesHup(pid)).toBe(true)
    process.kill(pid, 'SIGHUP')
    await until(`"hup 1" in ${marker}`, () => read(marker) === 'hup 1\n', { seen: () => readAll(marker) })
    expect(isAlive(pid)).toBe(true)
  })
})

describe('ready() outside a daemon', () => {
  const direct = join(fixtures, 'daemon-direct-ready.js')
  const cleanEnv = (): NodeJS.ProcessEnv => {
    const env = { ...process.env }
    for (const k of Object.keys(env)) if (k.startsWith('NODE_DAEMONIZE_') || k === 'NOTIFY_SOCKET') delete env[k]
    return env
  }
  const report = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop() as string) as { first: boolean; second: boolean }

  it('does nothing and returns false', () => {
    const r = spawnSync(process.execPath, [direct], { env: cleanEnv(), encoding: 'utf8' })
    expect(r.status).toBe(0)
    expect(report(r.stdout)).toMatchObject({ first: false, second: false })
  })

  it('does not write to a named fd that is not a pipe', () => {
    const file = join(dir, 'not-a-pipe')
    writeFileSync(file, '')
    const fd = openSync(file, 'w')
    try {
      const r = spawnSync(process.execPath, [direct], {
        env: { ...cleanEnv(), NODE_DAEMONIZE_READY_FD: '4', NODE_DAEMONIZE_CONTRACT: '1' },
        stdio: ['ignore', 'pipe', 'pipe', 'ignore', fd],
        encoding: 'utf8',
      })
      expect(r.status).toBe(0)
      expect(report(r.stdout)).toMatchObject({ first: false, second: false })
    } finally {
      closeSync(fd)
    }
    expect(read(file)).toBe('')
  })

  it('does not fail when the named fd is not open', () => {
    const r = spawnSync(process.execPath, [direct], {
      env: { ...cleanEnv(), NODE_DAEMONIZE_READY_FD: '99', NODE_DAEMONIZE_CONTRACT: '1' },
      encoding: 'utf8',
    })
    expect(r.status).toBe(0)
    expect(report(r.stdout)).toMatchObject({ first: false, second: false })
  })

  it('writes READY=1 once to the named pipe', () => {
    // A shell pipeline gives a real pipe (Node's own stdio pipes are
    // socketpairs): fd 4 and stdout are both its write end.
    const r = spawnSync('sh', ['-c', 'exec "$0" "$1" 4>&1 | cat', process.execPath, direct], {
      env: { ...cleanEnv(), NODE_DAEMONIZE_READY_FD: '4', NODE_DAEMONIZE_CONTRACT: '1' },
      encoding: 'utf8',
    })
    expect(r.status).toBe(0)
    const lines = r.stdout.split('\n').filter(Boolean)
    expect(lines.filter((l) => l === 'READY=1')).toHaveLength(1)
    expect(report(r.stdout)).toMatchObject({ first: true, second: false })
  })
})
