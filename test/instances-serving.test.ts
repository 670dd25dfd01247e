// --instances N serving on one shared --listen socket (issue 21, "Tests"):
// every instance answers; kill -9 of one under a connection-per-request load
// refuses nothing and loses at most what that instance had accepted; the
// instance comes back with its index; 20 concurrent starts give one
// supervisor; stop leaves nothing of any instance. Real CLI, real nobody,
// real daemons, state read from /proc.
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { lockPathOf } from '../src/files/pidfile-read.js'
import { readSupervisorState, statePathOf } from '../src/files/state-file.js'
import { native } from '../src/native.js'
import { allPids } from '../src/proc/identity.js'
import { lockHolders } from '../src/proc/lock-holders.js'
import { fixtures } from './helpers/caller.js'
import { runCli } from './helpers/cli.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { startNamed, useNamesRoot } from './helpers/names.js'
import { freePort } from './helpers/net.js'
import { procStat } from './helpers/proc.js'
import { cleanUpScratchDirs } from './helpers/scratch.js'
import { sessionMembers } from './helpers/services.js'
import { until } from './helpers/wait.js'

cleanUpScratchDirs()
cleanUpDaemons()
const current = useNamesRoot()
// A test that failed half-way: stop its services by name first (registered last, so it runs
// before the kills by pid above), so that what their instances started goes with them.
afterEach(async () => {
  const root = current()
  for (const name of ['web', 'race']) if (existsSync(join(root.run, `${name}.pid`))) await runCli(['stop', name], root.env)
})

const app = join(fixtures, 'instances-serve.mjs')
const nobody = native().lookupUser('nobody')

type Outcome =
  | { kind: 'ok'; instance: number; pid: number; localPort?: number }
  | { kind: 'refused' | 'reset' | 'other'; code: string; localPort?: number }

/** One GET /?ms=N on a fresh connection, and how it ended. */
function ask(port: number, ms = 0): Promise<Outcome> {
  return new Promise((resolve) => {
    let localPort: number | undefined
    const failed = (err: NodeJS.ErrnoException) => {
      const code = err.code ?? err.message
      const kind = code === 'ECONNREFUSED' ? 'refused' : code === 'ECONNRESET' || code === 'EPIPE' || /socket hang up/.test(err.message) ? 'reset' : 'other'
      resolve({ kind, code, localPort })
    }
    const req = request({ host: '127.0.0.1', port, path: `/?ms=${ms}`, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (s: string) => (body += s))
      res.on('error', failed)
      res.on('end', () => {
        try {
          const a = JSON.parse(body) as { instance: number; pid: number }
          resolve({ kind: 'ok', instance: a.instance, pid: a.pid, localPort })
        } catch {
          resolve({ kind: 'other', code: `bad body ${JSON.stringify(body)}`, localPort })
        }
      })
    })
    req.on('socket', (s) => s.once('connect', () => (localPort = s.localPort)))
    req.on('error', failed)
    req.end()
  })
}

/** Fresh connections, 8 at a time, until every index 0..n-1 has answered (at most `bound` requests): index -> pid. */
async function everyInstance(port: number, n: number, bound = 4000): Promise<Map<number, number>> {
  const seen = new Map<number, number>()
  for (let sent = 0; seen.size < n; sent += 8) {
    if (sent >= bound) throw new Error(`after ${sent} requests only instances ${[...seen.keys()].sort()} of ${n} answered`)
    for (const o of await Promise.all(Array.from({ length: 8 }, () => ask(port)))) {
      if (o.kind !== 'ok') throw new Error(`a request failed while every instance was up: ${JSON.stringify(o)}`)
      seen.set(o.instance, o.pid)
    }
  }
  return seen
}

/** The client ports of the TCP connections process pid holds (accepted, not listening), from its fds and /proc/<pid>/net/tcp*. */
function acceptedPeers(pid: number): Set<number> {
  const inodes = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (m) inodes.add(m[1])
    } catch {
      // closed meanwhile
    }
  }
  const peers = new Set<number>()
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'latin1').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      // sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
      if (f.length < 10 || f[3] === '0A' || !inodes.has(f[9])) continue
      peers.add(parseInt(f[2].split(':')[1], 16))
    }
  }
  return peers
}

function uidOf(pid: number): number | undefined {
  try {
    return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
  } catch {
    return undefined
  }
}

function environHas(pid: number, kv: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(kv)
  } catch {
    return false
  }
}

/** Live (not zombie) processes of the service uid whose environment holds the marker: what the service and its children run. */
function markedProcesses(uid: number | undefined, marker: string): number[] {
  return allPids().filter((pid) => {
    if (uidOf(pid) !== uid || !environHas(pid, marker)) return false
    try {
      return procStat(pid).state !== 'Z'
    } catch {
      return false
    }
  })
}

/** Live processes holding any fd on a file under dir (a lock, a log, a state file of this test's names root). */
function processesWithFilesUnder(dir: string): number[] {
  return allPids().filter((pid) => {
    try {
      if (procStat(pid).state === 'Z') return false
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(`${dir}/`)
        } catch {
          return false
        }
      })
    } catch {
      return false
    }
  })
}

describe('--instances N serving on one shared --listen socket', () => {
  it.each([2, 4])(
    '%i instances as nobody on one TCP port: each answers with its index; stop leaves nothing of any instance, what each started included',
    async (n) => {
      const root = current()
      const port = await freePort()
      const marker = `ND_SERVE_MARK=${port}-${n}`
      const { result } = await startNamed(
        [app, '--name', 'web', '--respawn', '--instances', String(n), '--listen', `tcp:127.0.0.1:${port}`, '--wait-ready', '15s', '--user', 'nobody', '--env', marker, '--', '--leftover'],
        root.env,
      )
      const supervisor = result.supervisorPid as number
      const pidFile = result.pidFile as string
      const seen = await everyInstance(port, n)
      const pids = [...Array(n).keys()].map((i) => track(seen.get(i) as number))
      expect(new Set(pids).size).toBe(n)
      expect(readSupervisorState(statePathOf(pidFile), 0)?.instances?.map((i) => i.pid)).toEqual(pids)
      for (const pid of pids) {
        expect(uidOf(pid)).toBe(nobody?.uid)
        expect(procStat(pid).ppid).toBe(supervisor)
      }

      // What runs as nobody with the service's environment: the n instances and the child each started (out of its session).
      const running = await until(`${n} instances and their ${n} children`, () => {
        const found = markedProcesses(nobody?.uid, marker)
        return found.length === 2 * n ? found : undefined
      }, { seen: () => markedProcesses(nobody?.uid, marker) })
      for (const pid of running) track(pid)
      const children = running.filter((p) => !pids.includes(p))
      expect(children.every((p) => procStat(p).session !== procStat(supervisor).session)).toBe(true)

      const sid = procStat(supervisor).session
      const stopped = await runCli(['stop', 'web'], root.env)
      expect(stopped.code, stopped.err).toBe(0)
      for (const pid of [supervisor, ...running]) await untilGone(pid)
      expect(markedProcesses(nobody?.uid, marker)).toEqual([])
      expect(sessionMembers(sid)).toEqual([])
      expect(processesWithFilesUnder(root.top)).toEqual([])
      expect((await ask(port)).kind).toBe('refused')
    },
    90_000,
  )

  it(
    'kill -9 of one instance under a connection-per-request load: nothing refused, only what it had accepted lost, back with its index',
    async () => {
      const root = current()
      const port = await freePort()
      const { result } = await startNamed(
        [app, '--name', 'web', '--respawn', '--respawn-delay', '100ms', '--instances', '2', '--listen', `tcp:127.0.0.1:${port}`, '--wait-ready', '15s', '--user', 'nobody'],
        root.env,
      )
      const pidFile = result.pidFile as string
      const first = await everyInstance(port, 2)
      for (const pid of first.values()) track(pid)
      const victim = first.get(1) as number

      // The load: 8 clients, each a request at a time on a fresh connection, each answered after 20 ms
      // (so that the instances hold connections in flight when one is killed).
      const outcomes: Outcome[] = []
      let running = true
      const clients = Array.from({ length: 8 }, async () => {
        while (running) outcomes.push(await ask(port, 20))
      })
      const oks = () => outcomes.filter((o) => o.kind === 'ok').length
      await until('200 answers under load', () => oks() >= 200)

      // Freeze it (it accepts nothing more), note the connections it holds, then kill it.
      process.kill(victim, 'SIGSTOP')
      await until(`pid ${victim} to stop`, () => procStat(victim).state === 'T')
      const held = acceptedPeers(victim)
      const before = outcomes.length
      process.kill(victim, 'SIGKILL')
      await untilGone(victim)

      // Instance 1 is back (a new pid, its index), and answers the load.
      const back = await until('instance 1 to be back and answer', () =>
        outcomes.slice(before).find((o) => o.kind === 'ok' && o.instance === 1 && o.pid !== victim),
      )
      const backPid = track((back as { pid: number }).pid)
      expect(readSupervisorState(statePathOf(pidFile), 0)?.instances?.map((i) => i.pid)).toEqual([first.get(0), backPid])
      const after = oks()
      await until('100 more answers', () => oks() >= after + 100)
      running = false
      await Promise.all(clients)

      const failures = outcomes.filter((o) => o.kind !== 'ok')
      const count = (kind: string) => outcomes.filter((o) => o.kind === kind).length
      console.log(
        `kill -9 under load: ${outcomes.length} requests, ${oks()} answered, ${count('refused')} refused, ${count('reset')} reset/EOF, ` +
          `${count('other')} other; the killed instance held ${held.size} accepted connections`,
      )
      expect(count('refused')).toBe(0)
      expect(count('other')).toBe(0)
      // Every failure was a connection the killed instance had accepted (its client port), each at most once.
      expect(failures.every((o) => o.localPort !== undefined && held.has(o.localPort))).toBe(true)
      expect(failures.length).toBeLessThanOrEqual(held.size)
      // The other instance served throughout.
      expect(outcomes.slice(before).some((o) => o.kind === 'ok' && o.instance === 0 && o.pid === first.get(0))).toBe(true)

      expect((await runCli(['stop', 'web'], root.env)).code).toBe(0)
      for (const pid of [result.supervisorPid as number, first.get(0) as number, backPid]) await untilGone(pid)
    },
    90_000,
  )

  it(
    '20 concurrent start NAME --instances 3 --respawn: one supervisor holds the lock, the others fail (already running), nothing leaked',
    async () => {
      const root = current()
      const marker = `ND_SERVE_MARK=race-${process.pid}-${Date.now()}`
      const env = { ...root.env, ND_SERVE_MARK: marker.slice(marker.indexOf('=') + 1) }
      const runs = await Promise.all(
        Array.from({ length: 20 }, () => runCli(['start', '--json', join(fixtures, 'daemon-idle.js'), '--name', 'race', '--respawn', '--instances', '3'], env)),
      )
      const won = runs.filter((r) => r.code === 0)
      const lost = runs.filter((r) => r.code !== 0)
      expect(won.length, JSON.stringify(runs.map((r) => [r.code, r.err.trim()]))).toBe(1)
      const result = JSON.parse(won[0].out) as { pid: number; supervisorPid: number; pidFile: string }
      track(result.pid)
      track(result.supervisorPid)
      console.log(`20 concurrent starts: ${won.length} started; the others said: ${[...new Set(lost.map((r) => r.err.trim().replace(/\d+/g, 'N')))].join(' | ')}`)
      for (const r of lost) {
        expect(r.code).toBe(1)
        expect(r.err.trim().split('\n')).toHaveLength(1)
        expect(r.err).toMatch(/already running|EBUSY/)
        // A pid it names is the one supervisor's.
        for (const m of r.err.matchAll(/\(pid (\d+)/g)) expect(Number(m[1])).toBe(result.supervisorPid)
      }

      const state = statePathOf(result.pidFile)
      const pids = await until('the 3 instances to run', () => {
        const p = readSupervisorState(state, 0)?.instances?.map((i) => i.pid)
        return p?.length === 3 && p.every((x) => x !== undefined) ? (p as number[]) : undefined
      })
      for (const p of pids) track(p)
      // One holder of the pid file's lock: the supervisor.
      const lock = statSync(lockPathOf(result.pidFile))
      expect(lockHolders({ dev: lock.dev, ino: lock.ino }).map((h) => h.pid)).toEqual([result.supervisorPid])
      // Nothing else runs with the launches' environment (the 3 instances, nothing a losing start began),
      // and nothing else holds a file of this names root open (lock, log, state).
      await until('the instances to exec Node', () => pids.every((p) => environHas(p, marker)))
      expect(markedProcesses(0, marker).sort((a, b) => a - b)).toEqual([...pids].sort((a, b) => a - b))
      expect(processesWithFilesUnder(root.top).sort((a, b) => a - b)).toEqual([result.supervisorPid, ...pids].sort((a, b) => a - b))

      expect((await runCli(['stop', 'race'], root.env)).code).toBe(0)
      for (const p of [result.supervisorPid, ...pids]) await untilGone(p)
      expect(processesWithFilesUnder(root.top)).toEqual([])
    },
    90_000,
  )
})
