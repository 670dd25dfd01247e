// `node-daemonize run` beyond PID 1 duties: Ctrl-C on a terminal, the
// ready file for probes, NOTIFY_SOCKET, what the app leaves behind outside
// a namespace, --log-file, and its refusals (issue 22).
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { helperPath } from '../src/native.js'
import { fixtures } from './helpers/caller.js'
import { cliBin, runCli } from './helpers/cli.js'
import { cleanUpDaemons, track } from './helpers/daemons.js'
import { cleanUpReceivers, receivedBefore, receiver } from './helpers/notify.js'
import { isAlive, procStat } from './helpers/proc.js'
import { cleanUpRuns, jsonLines, runApp, startRun } from './helpers/run.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'
import { until } from './helpers/wait.js'

const helper = helperPath()

cleanUpScratchDirs()
cleanUpDaemons()
cleanUpRuns()
cleanUpReceivers()

describe('run on a terminal', () => {
  it('gives the app the foreground: Ctrl-C stops it once, and reading the terminal does not stop it', () => {
    const r = spawnSync('python3', [join(fixtures, 'pty-run.py'), '--ctrl-c-after', 'foreground ', process.execPath, cliBin, 'run', runApp], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    expect(r.status).toBe(0)
    // the app's group was the terminal's foreground: it read the terminal and was not stopped
    expect(r.stdout).toContain('foreground yes')
    expect(r.stdout.split('got SIGINT').length - 1).toBe(1)
    // the terminal's INT went to the app's group only: the supervisor began no stop of its own
    const events = jsonLines(r.stdout.replace(/\r/g, '')).map((e) => e.event)
    expect(events).not.toContain('stop')
    expect(events).toContain('done')
  })
})

describe('run --ready-file', () => {
  it('removes a stale one at start, makes it once the app called ready(), removes it on stop', async () => {
    const dir = scratchDir('nd-run-ready-')
    const file = join(dir, 'ready')
    writeFileSync(file, 'stale')
    const r = await startRun(['--wait-ready', '10s', '--ready-file', file, runApp, '--', 'ready'], { ns: true })
    await until('the app to call ready()', () => r.out().includes('called ready'), { seen: () => r.out() })
    await until('the ready file', () => existsSync(file) && readFileSync(file, 'utf8') === '', { seen: () => r.err() })
    process.kill(r.pid, 'SIGTERM')
    expect(await r.exit).toBe(0)
    expect(existsSync(file)).toBe(false)
    expect(r.events().map((e) => e.event)).toEqual(expect.arrayContaining(['ready-file-stale', 'ready-file', 'ready-file-removed']))
  })

  it('removes it when the app dies', async () => {
    const dir = scratchDir('nd-run-ready-')
    const file = join(dir, 'ready')
    const r = await startRun(['--wait-ready', '10s', '--ready-file', file, runApp, '--', 'ready'], { ns: true })
    await until('the ready file', () => existsSync(file), { seen: () => r.err() })
    const [app] = readFileSync(`/proc/${r.pid}/task/${r.pid}/children`, 'utf8').trim().split(' ').map(Number)
    process.kill(app, 'SIGKILL')
    expect(await r.exit).toBe(137)
    expect(existsSync(file)).toBe(false)
  })

  it('is not made for an app kept on a timeout (--keep-on-timeout) that never called ready()', async () => {
    const dir = scratchDir('nd-run-ready-')
    const file = join(dir, 'ready')
    const r = await startRun(['--wait-ready', '200ms', '--keep-on-timeout', '--ready-file', file, runApp])
    await until('the launch to end on the timeout', () => r.events().some((e) => e.event === 'launched'), { seen: () => r.err() })
    expect(existsSync(file)).toBe(false)
    process.kill(r.pid, 'SIGTERM')
    expect(await r.exit).toBe(0)
    expect(r.events().map((e) => e.event)).not.toContain('ready-file')
  })

  it('is refused without --wait-ready, and in a directory others can write', async () => {
    const a = await runCli(['run', '--ready-file', '/tmp/x', runApp])
    expect(a.code).toBe(2)
    expect(a.err).toContain('--ready-file needs --wait-ready')
    const open = scratchDir('nd-run-open-', 0o777)
    const b = await runCli(['run', '--wait-ready', '1s', '--ready-file', join(open, 'ready'), runApp])
    expect(b.code).toBe(1)
    expect(b.err).toMatch(/is writable by group or others; refusing to use it/)
  })
})

describe('run under systemd (NOTIFY_SOCKET)', () => {
  it('sends READY=1 itself once the app is ready, from its own pid, and keeps NOTIFY_SOCKET from the app', async () => {
    const dir = scratchDir('nd-run-notify-')
    const rcv = await receiver(join(dir, 'notify'))
    const r = await startRun(['--wait-ready', '10s', runApp, '--', 'ready'], { env: { ...process.env, NOTIFY_SOCKET: rcv.name } })
    await until('READY=1', () => rcv.got.some((d) => d.msg === 'READY=1\n'), { seen: () => rcv.got })
    expect(rcv.got.find((d) => d.msg === 'READY=1\n')?.pid).toBe(r.pid)
    const [app] = readFileSync(`/proc/${r.pid}/task/${r.pid}/children`, 'utf8').trim().split(' ').map(Number)
    expect(readFileSync(`/proc/${app}/environ`, 'latin1').split('\0').some((v) => v.startsWith('NOTIFY_SOCKET='))).toBe(false)
    process.kill(r.pid, 'SIGTERM')
    expect(await r.exit).toBe(0)
    expect((await receivedBefore(rcv)).map((d) => d.msg)).toEqual(['READY=1\n'])
  })
})

describe('run outside a PID namespace', () => {
  for (const fault of ['', 'no-cgroup']) {
    it(`kills what the app left behind when it exits (${fault === '' ? 'a cgroup where it can make one' : 'the /proc attribution'})`, async () => {
      const r = await startRun([runApp, '--', 'orphan'], { env: { ...process.env, NODE_DAEMONIZE_TEST_FAULT: fault } })
      const code = await r.exit
      const orphan = Number(/^orphan (\d+)$/m.exec(r.out())?.[1])
      expect(orphan).toBeGreaterThan(1)
      expect(code).toBe(0)
      expect(isAlive(orphan)).toBe(false)
      expect(r.events().find((e) => e.event === 'launched')?.leftovers).toEqual(fault === '' ? expect.any(String) : 'proc')
    })
  }

  // hardening of issue 22: `run` shares its caller's session; the supervisor's
  // escalation (SIGKILL to everything after --stop-timeout) killed the whole
  // session where there is no cgroup: here, a bystander of the caller's.
  it('never kills by session: a process of its caller\'s session outlives the KILL after --stop-timeout', async () => {
    // in the session, but not a child of the shell that becomes run (those are the supervisor's children: docs/containers.md)
    const shell = `(sleep 600 >/dev/null 2>&1 & echo "bystander $!"); exec ${process.execPath} ${cliBin} run --stop-timeout 200ms ${runApp} -- ignore-term`
    const r = await startRun([], { argv: ['setsid', 'sh', '-c', shell], env: { ...process.env, NODE_DAEMONIZE_TEST_FAULT: 'no-cgroup' } })
    const bystander = Number(/^bystander (\d+)$/m.exec(r.out())?.[1])
    track(bystander)
    expect(procStat(bystander).session).toBe(procStat(r.pid).session)
    process.kill(r.pid, 'SIGTERM')
    expect(await r.exit).toBe(137)
    expect(r.events().map((e) => e.event)).toContain('stop-timeout')
    expect(isAlive(bystander)).toBe(true)
  })

  it('is the process its caller started (exec, no fork), in the caller\'s session, not its leader', async () => {
    const r = await startRun([runApp])
    expect(r.pid).toBe(r.child.pid)
    const st = procStat(r.pid)
    expect(st.session).toBe(procStat(process.pid).session)
    const [app] = readFileSync(`/proc/${r.pid}/task/${r.pid}/children`, 'utf8').trim().split(' ').map(Number)
    const a = procStat(app)
    expect(a.session).toBe(st.session)
    expect(a.pgrp).toBe(app)
    process.kill(r.pid, 'SIGINT')
    expect(await r.exit).toBe(0)
    expect(r.out()).toContain('got SIGTERM') // INT to the supervisor: a graceful stop, TERM to the app
  })

  it('with --log-file: the app\'s output and the events go there', async () => {
    const dir = scratchDir('nd-run-log-')
    const log = join(dir, 'app.log')
    const r = await startRun(['--log-file', log, runApp], { waitApp: false })
    await until('the app in the log', () => existsSync(log) && readFileSync(log, 'utf8').includes('token '))
    process.kill(r.pid, 'SIGTERM')
    expect(await r.exit).toBe(0)
    const text = readFileSync(log, 'utf8')
    expect(text).toContain('drained')
    expect(jsonLines(text).map((e) => e.event)).toEqual(expect.arrayContaining(['launched', 'stop', 'stopped']))
    expect(r.out()).toBe('')
  })
})

describe('run refuses', () => {
  it('a PID namespace whose /proc is not its own, saying what to mount', () => {
    const r = spawnSync('unshare', ['--pid', '--fork', process.execPath, cliBin, 'run', runApp], { encoding: 'utf8', timeout: 20_000 })
    expect(r.status).toBe(1)
    expect(r.stderr).toBe(
      "node-daemonize run: /proc is not this PID namespace's own: mount one (unshare --pid --fork --mount-proc, or mount -t proc proc /proc in the namespace)\n",
    )
  })

  it('a namespace /proc that is not its own in the supervisor too, without the CLI in front of it', () => {
    const direct = (mountProc: boolean) =>
      spawnSync('unshare', ['--pid', '--fork', ...(mountProc ? ['--mount-proc'] : []), 'python3', join(fixtures, 'run-helper-direct.py'), helper], {
        encoding: 'utf8',
        timeout: 20_000,
      })
    // with its own /proc the plan runs (/bin/true: exit 0)
    expect(direct(true).status).toBe(0)
    const r = direct(false)
    expect(r.status).toBe(1)
    expect(r.stderr).toBe(
      "node-daemonize run: /proc is not this PID namespace's own: mount one (unshare --pid --fork --mount-proc, or mount -t proc proc /proc in the namespace)\n",
    )
  })

  it('where it cannot be a child subreaper', () => {
    const r = spawnSync(process.execPath, [cliBin, 'run', runApp], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, NODE_DAEMONIZE_TEST_FAULT: 'no-subreaper' },
    })
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/^node-daemonize run: cannot be a child subreaper: what the app leaves behind could not be found \(errno 22\)\n$/)
    expect(r.stdout).toBe('')
  })

  it('a daemon\'s own options, and a signal it passes on anyway', async () => {
    const a = await runCli(['run', '--pid-file', '/tmp/x.pid', runApp])
    expect(a.code).toBe(2)
    expect(a.err).toContain("--pid-file is not an option of run (a daemon's only)")
    const b = await runCli(['run', '--forward-signal', 'HUP', runApp])
    expect(b.code).toBe(2)
    expect(b.err).toContain("--forward-signal takes USR1, got 'HUP'")
  })
})
