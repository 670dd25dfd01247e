// What a dead instance of a --instances service left behind (issue 21,
// "degraded", item 3): killed, attributed by the cgroup per generation
// (cgroup mode) or by the /proc attribution (NODE_DAEMONIZE_TEST_FAULT=
// no-cgroup), never what another instance made, although instances overlap
// for good (their start times alone do not tell their processes apart).
// Real CLI, real nobody, real daemons, state read from /proc.
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { native } from '../src/native.js'
import { readSupervisorState, statePathOf } from '../src/files/state-file.js'
import { fixtures } from './helpers/caller.js'
import { runCli } from './helpers/cli.js'
import { cleanUpDaemons, track, untilGone } from './helpers/daemons.js'
import { startNamed, useNamesRoot } from './helpers/names.js'
import { isAlive, procStat } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'
import { until } from './helpers/wait.js'

cleanUpScratchDirs()
cleanUpDaemons()
const current = useNamesRoot()

const app = join(fixtures, 'instances-degraded.mjs')
const nobody = native().lookupUser('nobody')

/** What instances-degraded.mjs writes of each instance's children. */
interface Children {
  instance: number
  detached: number
  shell: number
  grandchild: number
  holder: number
  orphan: number
}

const kinds = ['detached', 'shell', 'grandchild', 'holder', 'orphan'] as const

function childrenOf(out: string, pid: number): Children | undefined {
  if (!readdirSync(out).includes(`children.${pid}`)) return undefined
  const c = JSON.parse(readFileSync(join(out, `children.${pid}`), 'utf8')) as Children
  for (const k of kinds) track(c[k])
  return c
}

/** The pids of an instance's current generation, from the state record, once its children are written. */
async function instancePids(pidFile: string, out: string, n: number, not: number[] = []): Promise<{ pid: number; children: Children }[]> {
  return until(`${n} instances with their children`, () => {
    const st = readSupervisorState(statePathOf(pidFile), 0)
    const got = (st?.instances ?? []).map((i) => (i.pid !== undefined && !not.includes(i.pid) ? { pid: i.pid, children: childrenOf(out, i.pid) } : undefined))
    return got.length === n && got.every((g) => g?.children !== undefined) ? (got as { pid: number; children: Children }[]) : undefined
  })
}

describe('--instances N: what a dead instance left behind', () => {
  for (const mode of ['cgroup', 'proc'] as const) {
    it(
      `${mode}: kill -9 of instance 1 kills its setsid'd child, its grandchild and its orphan, not the other instances'; an older orphan of instance 0 that arrives as instance 1 dies is spared`,
      async () => {
        const root = current()
        const env = mode === 'proc' ? { ...root.env, NODE_DAEMONIZE_TEST_FAULT: 'no-cgroup' } : root.env
        const out = scratchDir('nd-inst-left-')
        chmodSync(out, 0o755)
        mkdirSync(join(out, 'c'))
        chownSync(join(out, 'c'), nobody!.uid, nobody!.gid)
        const dir = join(out, 'c')
        const { result } = await startNamed(
          [app, '--name', `left-${mode}`, '--respawn', '--respawn-delay', '50ms', '--instances', '3', '--wait-ready', '15s', '--user', 'nobody', '--', '', dir],
          env,
        )
        const supervisor = result.supervisorPid as number
        const pidFile = result.pidFile as string
        expect(readSupervisorState(statePathOf(pidFile), 0)?.cgroups).toBe(mode === 'cgroup')
        const first = await instancePids(pidFile, dir, 3)
        for (const f of first) track(f.pid)
        const all = (c: Children) => kinds.map((k) => c[k])

        // kill -9 of instance 1: everything it started goes (its orphan once its holder is gone too).
        process.kill(first[1].pid, 'SIGKILL')
        for (const p of all(first[1].children)) await untilGone(p)
        const second = await instancePids(pidFile, dir, 3, [first[1].pid])
        expect(second[0].pid).toBe(first[0].pid)
        expect(second[2].pid).toBe(first[2].pid)
        for (const i of [0, 2]) for (const p of all(first[i].children)) expect(isAlive(p), `instance ${i}'s ${p}`).toBe(true)

        // Instance 1 (now younger than instance 0's orphan) dies in the same wake as
        // instance 0's holder: the orphan reaches the supervisor with no look in
        // between. It started before instance 1's generation, which cannot have made it.
        const b = second[1]
        for (const p of [b.pid, ...all(b.children)]) track(p)
        process.kill(supervisor, 'SIGSTOP')
        try {
          process.kill(first[0].children.holder, 'SIGKILL')
          await untilGone(first[0].children.holder)
          await until("instance 0's orphan to be the supervisor's (its subreaper)", () => procStat(first[0].children.orphan).ppid === supervisor)
          process.kill(b.pid, 'SIGKILL')
          await until('instance 1 to be dead', () => !isAlive(b.pid))
        } finally {
          process.kill(supervisor, 'SIGCONT')
        }
        for (const p of all(b.children)) await untilGone(p)
        const third = await instancePids(pidFile, dir, 3, [first[1].pid, b.pid])
        expect(third[0].pid).toBe(first[0].pid)
        expect(isAlive(first[0].children.orphan), "instance 0's orphan").toBe(true)
        for (const k of ['detached', 'shell', 'grandchild'] as const) expect(isAlive(first[0].children[k]), `instance 0's ${k}`).toBe(true)
        for (const p of all(first[2].children)) expect(isAlive(p), `instance 2's ${p}`).toBe(true)

        // stop: nothing of any instance is left.
        const stopped = await runCli(['stop', `left-${mode}`], root.env)
        expect(stopped.code, stopped.err).toBe(0)
        const everything = [supervisor, ...[first, second, third].flatMap((g) => g.flatMap((i) => [i.pid, ...all(i.children)]))]
        for (const p of everything) await untilGone(p)
      },
      90_000,
    )
  }
})
