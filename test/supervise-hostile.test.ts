// Supervision when things go wrong: the supervisor killed with SIGKILL,
// grandchildren left behind, 50 concurrent starts of one pid file, log
// rotation under a supervisor, and a generation running as nobody that
// tries to alter what status reports.
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, readdirSync, readFileSync, readlinkSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { STATE_SIZE } from '../src/files/state-file.js'
import { reload } from '../src/control/reload.js'
import { status } from '../src/control/status.js'
import { stop } from '../src/control/stop.js'
import { native } from '../src/native.js'
import { execShim, fixtures } from './helpers/caller.js'
import { completeText } from './helpers/files.js'
import { until } from './helpers/wait.js'
import { isAlive, procStat, procStatus } from './helpers/proc.js'
import { app, cliPath, dir, events, expectCleanGeneration, lines, pidFiles, pids, sessionMembers, setUpServices, shims, startService } from './helpers/services.js'

setUpServices()

/** The grandchild pid the app wrote for generation `pid`, once it is there. */
async function grandchildOf(pid: number): Promise<number> {
  const f = join(dir, `grandchild.${pid}`)
  await until(`the grandchild's pid file of generation ${pid}`, () => existsSync(f) && readFileSync(f, 'utf8') !== '')
  const g = Number(readFileSync(f, 'utf8'))
  pids.add(g)
  return g
}

describe('the supervisor killed with SIGKILL', () => {
  it('takes its daemon with it at once; status says dead; stop kills what the daemon left in the session', async () => {
    writeFileSync(join(dir, 'grandchild'), '')
    const pidFile = join(dir, 'k.pid')
    const sup = startService([app, '--log-file', join(dir, 'k.log'), '--respawn', '--', dir], pidFile)
    const grandchild = await grandchildOf(sup.pid)
    process.kill(sup.supervisorPid, 'SIGKILL')
    const killedAt = Date.now()
    await until('the daemon to die with its supervisor', () => !isAlive(sup.pid), { timeoutMs: 5000, stepMs: 5 })
    // PR_SET_PDEATHSIG: the kernel kills it as the supervisor dies (a second is generous)
    expect(Date.now() - killedAt).toBeLessThan(1000)
    // the daemon's own child has no death signal: reparented, still in the session
    expect(isAlive(grandchild)).toBe(true)
    expect(procStat(grandchild).session).toBe(sup.helperPid)
    const s = status(pidFile)
    expect(s).toMatchObject({ state: 'dead', code: 1, pid: sup.supervisorPid, survivors: [grandchild] })
    expect(s.message).toBe(
      `dead: the supervisor (pid ${sup.supervisorPid}) is gone without stopping the service (killed?); its daemon died with it, but pid ${grandchild} of the service still runs unsupervised in its session (stop ends it)`,
    )
    // Where the supervisor made cgroups, the grandchild is in its generation's: stop removes them once empty.
    const cgroup = readFileSync(`/proc/${grandchild}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::')) ?? ''
    const service = new RegExp(`/nd-k-[0-9a-f]{8}-${sup.supervisorPid}/g1$`).test(cgroup) ? dirname(cgroup.slice(3)) : undefined
    // stop finds the session through the state file and empties it (what runs as the service's uid and started after the supervisor)
    const r = await stop(pidFile)
    expect(r).toMatchObject({ wasRunning: true, escalated: false })
    const head = `the supervisor (pid ${sup.supervisorPid}) was gone without stopping the service (killed?): killed pid ${grandchild} left in its session (SIGKILL); `
    if (service === undefined) expect(r.message).toBe(`${head}removed ${pidFile}`)
    else {
      const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      expect(r.message).toMatch(new RegExp(`^${esc(head)}removed its cgroup /\\S*${esc(service)}; removed ${esc(pidFile)}$`))
    }
    await until('the grandchild to exit', () => !isAlive(grandchild))
    expect(sessionMembers(sup.helperPid)).toEqual([])
  })
})

describe('a supervisor that does not finish a stop', () => {
  it('is killed by stop after its stop timeout and 5 s more, with every process of the session', async () => {
    writeFileSync(join(dir, 'grandchild'), '')
    const pidFile = join(dir, 'hang.pid')
    const sup = startService([app, '--log-file', join(dir, 'hang.log'), '--respawn', '--stop-timeout', '1s', '--', dir], pidFile)
    const grandchild = await grandchildOf(sup.pid)
    process.kill(sup.supervisorPid, 'SIGSTOP') // it cannot act on the TERM
    const t0 = Date.now()
    const r = await stop(pidFile)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(6000)
    expect(r).toMatchObject({ wasRunning: true, escalated: true, pid: sup.supervisorPid })
    expect(r.message).toMatch(/outlived SIGTERM by 6000 ms; it and every process of session \d+ were killed with SIGKILL/)
    await until('the daemon and its grandchild to exit', () => !isAlive(sup.pid) && !isAlive(grandchild))
    expect(sessionMembers(sup.helperPid)).toEqual([])
  })
})

describe('what a generation leaves behind', () => {
  it('is killed before the next generation starts, and stop leaves no grandchild of any generation', async () => {
    writeFileSync(join(dir, 'grandchild'), '')
    const pidFile = join(dir, 'g.pid')
    const log = join(dir, 'g.log')
    const sup = startService([app, '--log-file', log, '--respawn', '--respawn-delay', '10ms', '--', dir], pidFile)
    const first = await grandchildOf(sup.pid)
    process.kill(sup.pid, 'SIGKILL')
    await until('the supervisor\'s start event (a new generation)', () => events(log).some((e) => e.event === 'start'))
    // by the time the next generation started, the first one's child was gone
    expect(isAlive(first)).toBe(false)
    const gen2 = events(log).find((e) => e.event === 'start')?.daemonPid as number
    pids.add(gen2)
    const second = await grandchildOf(gen2)
    expect(isAlive(second)).toBe(true)
    await stop(pidFile)
    expect(isAlive(second)).toBe(false)
    expect(sessionMembers(sup.helperPid)).toEqual([])
  })
})

describe('50 concurrent starts of one pid file', () => {
  it('give one supervisor and one daemon; the others say already running', async () => {
    const pidFile = join(dir, 'c.pid')
    pidFiles.push(pidFile)
    const runs = await Promise.all(
      Array.from(
        { length: 50 },
        () =>
          new Promise<{ code: number | null; out: string }>((resolve) => {
            const c = spawn(process.execPath, [cliPath, 'start', app, '--pid-file', pidFile, '--respawn', '--startup-grace', '0', '--json', '--', dir])
            let out = ''
            c.stdout.on('data', (b) => (out += b))
            c.stderr.on('data', (b) => (out += b))
            c.on('close', (code) => resolve({ code, out }))
          }),
      ),
    )
    const ok = runs.filter((r) => r.code === 0)
    expect(ok).toHaveLength(1)
    for (const r of runs.filter((r) => r.code !== 0)) expect(r.out).toMatch(/already running/)
    const d = JSON.parse(ok[0].out.trim().split('\n').at(-1) as string)
    pids.add(d.supervisorPid)
    pids.add(d.pid)
    // exactly one supervisor and one daemon run this app with this directory
    const mine = readdirSync('/proc')
      .filter((n) => /^\d+$/.test(n))
      .filter((n) => {
        try {
          return readFileSync(`/proc/${n}/cmdline`, 'utf8').includes(dir) && procStat(Number(n)).state !== 'Z'
        } catch {
          return false
        }
      })
      .map(Number)
    expect(mine.sort()).toEqual([d.pid].sort())
    expect(procStat(d.supervisorPid).comm).toBe('nd-supervisor')
    const supervisors = readdirSync('/proc')
      .filter((n) => /^\d+$/.test(n))
      .filter((n) => {
        try {
          const st = procStat(Number(n))
          return st.comm === 'nd-supervisor' && st.state !== 'Z' && st.session === d.sid
        } catch {
          return false
        }
      })
    expect(supervisors).toEqual([String(d.supervisorPid)])
    expect(status(pidFile).supervisor?.daemonPid).toBe(d.pid)
  })
})

describe('log rotation under a supervisor', () => {
  it('rename + reload: the daemon and the supervisor move to the new file, no line lost', async () => {
    const log = join(dir, 'r.log')
    const pidFile = join(dir, 'r.pid')
    const sup = startService([join(fixtures, 'daemon-writer.js'), '--log-file', log, '--respawn', '--wait-ready', '20s'], pidFile)
    const numbers = (text: string) => {
      const out: number[] = []
      for (const l of text.split('\n')) {
        const m = /^[ce] (\d+)$/.exec(l)
        if (m) out.push(Number(m[1]))
        else if (l.startsWith('{"level"') && !l.includes('"name":"node-daemonize"')) out.push(JSON.parse(l).n)
      }
      return out
    }
    // Complete lines only: a JSON line still being written is not parsed.
    const read = (p: string) => completeText(p)
    await until('300 numbered lines in the log', () => numbers(read(log)).length >= 300)
    renameSync(log, `${log}.1`)
    const r = reload(pidFile)
    expect(r).toMatchObject({ pid: sup.supervisorPid, daemonPid: sup.pid })
    await until('hup 1 and 300 numbered lines in the new log', () => read(log).includes('hup 1\n') && numbers(read(log)).length >= 300)
    await stop(pidFile)
    const old = read(`${log}.1`)
    const now = read(log)
    const all = [...numbers(old), ...numbers(now)]
    const end = Number(/^end (\d+)$/m.exec(now)?.[1])
    expect(all.length).toBe(end)
    expect(new Set(all).size).toBe(end)
    for (let i = 1; i < all.length; i++) expect(all[i]).toBe(all[i - 1] + 1)
    // the supervisor reopened too: its later lines are in the new file only
    const supEvents = (text: string) => text.split('\n').filter((l) => l.includes('"supervisor":true')).map((l) => JSON.parse(l).event)
    expect(supEvents(now)).toEqual(['reopen', 'hup', 'stop', 'stopped'])
    expect(supEvents(old)).toEqual(['launched'])
    expect(statSync(log).mode & 0o777).toBe(0o640)
  })
})

const nobody = native().lookupUser('nobody')
const asRoot = process.getuid?.() === 0 && nobody !== null

describe.skipIf(!asRoot)('a generation running as nobody', () => {
  it('passes the checklist with its ids, holds no fd of the state file, and cannot write it', async () => {
    chmodSync(dir, 0o755)
    const log = join(dir, 'n.log')
    const pidFile = join(dir, 'n.pid')
    const sup = startService(
      [join(fixtures, 'priv-daemon.mjs'), '--exec-path', execShim, '--no-preload', '--log-file', log, '--user', 'nobody', '--respawn', '--respawn-delay', '10ms', '--startup-grace', '0'],
      pidFile,
    )
    for (let i = 0; i < 2; i++) {
      await until(`the exec shim line of generation ${i + 1}`, () => shims(log).length > i)
      const s = shims(log)[i]
      pids.add(s.pid)
      expectCleanGeneration(s, sup, log)
      expect(s.uid).toBe(nobody!.uid)
      if (i === 0) process.kill(s.pid, 'SIGKILL')
    }
    const state = `${pidFile}.state`
    const st = statSync(state)
    expect([st.uid, st.mode & 0o777]).toEqual([0, 0o644])
    const write = spawnSync(process.execPath, ['-e', `require('fs').openSync(${JSON.stringify(state)}, 'r+')`], {
      uid: nobody!.uid,
      gid: nobody!.gid,
      encoding: 'utf8',
    })
    expect(write.status).not.toBe(0)
    expect(write.stderr).toMatch(/EACCES/)
    const s = status(pidFile)
    expect(s.supervisor).toMatchObject({ daemonPid: shims(log)[1].pid, restarts: 1 })
    // nothing of the supervisor's is in the generation
    expect(lines(log).length).toBeGreaterThan(0)
  })
})

describe('without a subreaper (PR_SET_CHILD_SUBREAPER refused, as under qemu-user)', () => {
  it('degrades instead of failing: says so in the log and in status, and still finds leftovers through the session', async () => {
    writeFileSync(join(dir, 'grandchild'), '')
    const log = join(dir, 'ns.log')
    const pidFile = join(dir, 'ns.pid')
    const sup = startService([app, '--log-file', log, '--respawn', '--respawn-delay', '10ms', '--', dir], pidFile, {
      ...process.env,
      // the session is what this test is about (a cgroup would find it anyway)
      NODE_DAEMONIZE_TEST_FAULT: 'no-subreaper,no-cgroup',
    })
    expect(events(log).map((e) => e.event)).toContain('no-subreaper')
    const s = status(pidFile)
    expect(s.supervisor?.subreaper).toBe(false)
    expect(s.message).toMatch(/no subreaper \(PR_SET_CHILD_SUBREAPER unavailable\)/)
    const first = await grandchildOf(sup.pid)
    process.kill(sup.pid, 'SIGKILL')
    await until('the supervisor\'s start event (a new generation)', () => events(log).some((e) => e.event === 'start'))
    // reparented to init, not to the supervisor, yet killed through the session before the next generation
    expect(isAlive(first)).toBe(false)
    await stop(pidFile)
    expect(sessionMembers(sup.helperPid)).toEqual([])
  })
})

describe.skipIf(!asRoot)('the supervisor reopens the log as the service user', () => {
  it('creates the new file as that user, and refuses a symlink planted at the path (the old file keeps its lines)', async () => {
    const { mkdirSync, chownSync, symlinkSync, unlinkSync } = await import('node:fs')
    chmodSync(dir, 0o755)
    const logs = join(dir, 'logs')
    mkdirSync(logs, { mode: 0o755 })
    chownSync(logs, nobody!.uid, nobody!.gid)
    const log = join(logs, 'app.log')
    const pidFile = join(dir, 'u.pid')
    chmodSync(dir, 0o755)
    const appDir = join(dir, 'orders')
    mkdirSync(appDir, { mode: 0o755 })
    const sup = startService([app, '--log-file', log, '--user', 'nobody', '--respawn', '--', appDir], pidFile)
    pids.add(sup.pid)
    // root's own groups grant nothing there: the supervisor holds the service user's
    const groups = (g: string) => g.split(/\s+/).filter((x) => x !== '').map(Number).sort((a, b) => a - b)
    expect(groups(procStatus(sup.supervisorPid).Groups)).toEqual(groups(procStatus(sup.pid).Groups))
    renameSync(log, `${log}.1`)
    reload(pidFile)
    await until('the supervisor\'s reopen event in the new log', () => existsSync(log) && lines(log).some((l) => l.includes('"event":"reopen"')))
    expect(statSync(log)).toMatchObject({ uid: nobody!.uid, gid: nobody!.gid })
    // The daemon reopens on the HUP the supervisor forwarded, in its own time:
    // until its stdout is the new file, it may still create the path below.
    await until('the daemon\'s stdout on the new log', () => readlinkSync(`/proc/${sup.pid}/fd/1`) === log)

    // The service user plants a symlink to a root-only file where the log was.
    const secret = join(dir, 'secret')
    writeFileSync(secret, 'root only\n', { mode: 0o600 })
    renameSync(log, `${log}.2`)
    symlinkSync(secret, log)
    reload(pidFile)
    await until('the supervisor\'s reopen-failed event in the old log', () => lines(`${log}.2`).some((l) => l.includes('"event":"reopen-failed"')))
    expect(readFileSync(secret, 'utf8')).toBe('root only\n')
    unlinkSync(log)
    // still supervising, still logging where it was
    process.kill(sup.pid, 'SIGKILL')
    await until('a new generation\'s start event in the old log', () => lines(`${log}.2`).some((l) => l.includes('"event":"start"')))
  })
})

describe('a Worker terminated while its daemonize({ respawn }) waits for ready()', () => {
  it('leaves no supervisor, no daemon, and none of the pid, lock and state files', () => {
    const pidFile = join(dir, 'w.pid')
    pidFiles.push(pidFile)
    const script = join(dir, 'worker.mjs')
    writeFileSync(
      script,
      `import { existsSync, readFileSync } from 'node:fs'
import { Worker, isMainThread, workerData } from 'node:worker_threads'
import { daemonize } from ${JSON.stringify(join(fixtures, '..', '..', 'dist', 'index.js'))}
if (!isMainThread) await daemonize(workerData)
else {
  const w = new Worker(new URL(import.meta.url), {
    workerData: { entry: ${JSON.stringify(join(fixtures, 'daemon-never-ready.js'))}, pidFile: ${JSON.stringify(pidFile)}, waitReadyMs: 60000, respawn: true },
  })
  // the supervisor is up and has written its state: the launch waits for ready()
  while (!(existsSync(${JSON.stringify(`${pidFile}.state`)}) && readFileSync(${JSON.stringify(`${pidFile}.state`)}).length === ${STATE_SIZE})) await new Promise((r) => setTimeout(r, 10))
  const supervisor = Number(readFileSync(${JSON.stringify(pidFile)}, 'utf8'))
  await w.terminate()
  console.log(JSON.stringify({ supervisor }))
}
`,
    )
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stdout + r.stderr).toBe(0)
    const { supervisor } = JSON.parse(r.stdout.trim().split('\n').at(-1) as string)
    pids.add(supervisor)
    expect(isAlive(supervisor)).toBe(false)
    expect(existsSync(pidFile)).toBe(false)
    expect(existsSync(`${pidFile}.lock`)).toBe(false)
    expect(existsSync(`${pidFile}.state`)).toBe(false)
  })
})
