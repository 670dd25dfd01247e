// A supervisor killed with SIGKILL whose generation cleared its death
// signal (hardening round 2, defect 6): the generation lives on as the
// service user, reparented. status and list say that it still runs (LSB 1,
// not "stale"), and stop ends it; a recorded pid is named or signalled only
// while its start time and uid still match the state record. As root, the
// service user nobody, through the real CLI.
import { spawn } from 'node:child_process'
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { ListEntry } from '../src/names/list.js'
import { native } from '../src/native.js'
import { fixtures } from './helpers/caller.js'
import { type CliRun, runCli } from './helpers/cli.js'
import { cleanUpDaemons, killChildren, killDaemon, track, untilGone } from './helpers/daemons.js'
import { startNamed, useNamesRoot } from './helpers/names.js'
import { isAlive, procStatus } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'
import { until } from './helpers/wait.js'

cleanUpScratchDirs()
cleanUpDaemons()
const names = useNamesRoot()

const nobody = native().lookupUser('nobody')
const asRoot = process.getuid?.() === 0 && nobody !== null

function json(r: CliRun): Record<string, unknown> {
  return JSON.parse(r.out.trim().split('\n').at(-1) as string) as Record<string, unknown>
}

async function listed(env: NodeJS.ProcessEnv, name: string): Promise<ListEntry> {
  const r = await runCli(['list', '--json'], env)
  expect(r.code, r.err).toBe(0)
  return (JSON.parse(r.out) as ListEntry[]).find((e) => e.name === name) as ListEntry
}

/**
 * Start NAME under a supervisor, as nobody, with a generation that clears
 * its death signal; SIGKILL the supervisor once it has. Returns the pids.
 */
async function killedSupervisor(name: string, env: NodeJS.ProcessEnv): Promise<{ supervisor: number; generation: number; pidFile: string }> {
  const dir = scratchDir('nd-survivor-')
  chmodSync(dir, 0o755)
  const out = join(dir, 'out')
  mkdirSync(out)
  chownSync(out, nobody!.uid, nobody!.gid)
  const { result } = await startNamed(
    [join(fixtures, 'daemon-no-deathsig.py'), '--name', name, '--exec-path', '/usr/bin/python3', '--no-preload', '--user', 'nobody', '--respawn', '--startup-grace', '0', '--', out],
    env,
  )
  const supervisor = result.supervisorPid as number
  const generation = result.pid as number
  await until('the generation to clear its death signal', () => readdirSync(out).includes(`survivor.${generation}`))
  process.kill(supervisor, 'SIGKILL')
  await untilGone(supervisor)
  return { supervisor, generation, pidFile: result.pidFile as string }
}

describe.skipIf(!asRoot)('the supervisor killed with SIGKILL, its generation still running', () => {
  it('status says what still runs (LSB 1), list says orphaned, and stop ends it', async () => {
    const { env } = names()
    const { supervisor, generation, pidFile } = await killedSupervisor('surv', env)
    // It lives on as nobody, no longer the supervisor's child.
    expect(isAlive(generation)).toBe(true)
    expect(procStatus(generation).Uid.split(/\s+/)[0]).toBe(String(nobody!.uid))
    expect(Number(procStatus(generation).PPid)).not.toBe(supervisor)

    const said = `dead: the supervisor (pid ${supervisor}) is gone without stopping the service (killed?); pid ${generation} of the service still runs unsupervised (stop ends it)`
    const st = await runCli(['status', 'surv'], env)
    expect(st.code).toBe(1)
    expect(st.out.trim()).toBe(`surv: ${said}`)
    const stj = await runCli(['status', 'surv', '--json'], env)
    expect(json(stj)).toMatchObject({ state: 'dead', code: 1, pid: supervisor, survivors: [generation] })

    expect(await listed(env, 'surv')).toMatchObject({ state: 'orphaned', pid: generation, supervisorPid: supervisor, message: said })

    const stopped = await runCli(['stop', 'surv'], env)
    expect(stopped.code, stopped.err).toBe(0)
    expect(stopped.out.trim()).toBe(
      `the supervisor (pid ${supervisor}) was gone without stopping the service (killed?): stopped pid ${generation}, the generation it left running (SIGTERM); removed ${pidFile}`,
    )
    await untilGone(generation)
    const after = await runCli(['status', 'surv'], env)
    expect(after.code).toBe(3)
  })

  it('a recorded pid that is another process now (start time or uid differ) is not named, and not signalled', async () => {
    const { env } = names()
    const { supervisor, generation, pidFile } = await killedSupervisor('reused', env)
    const state = `${pidFile}.state`
    const patch = (offset: number, value: number) => {
      const fd = openSync(state, 'r+')
      try {
        const b = Buffer.alloc(4)
        b.writeUInt32LE(value)
        writeSync(fd, b, 0, 4, offset)
      } finally {
        closeSync(fd)
      }
    }
    // The record says another uid: the generation is not the recorded process.
    patch(116, nobody!.uid - 1) // service_uid
    let st = await runCli(['status', 'reused', '--json'], env)
    expect(json(st).survivors).toBeUndefined()
    expect(json(st).message).toBe(
      `dead: the supervisor (pid ${supervisor}) is gone without stopping the service (killed?); its daemon (pid ${generation}) is gone (that pid is another process now, left alone); nothing of the service still runs`,
    )
    expect((await listed(env, 'reused')).state).toBe('stale')
    let stopped = await runCli(['stop', 'reused'], env)
    expect(stopped.code, stopped.err).toBe(0)
    expect(stopped.out).toMatch(/^not running/)
    expect(isAlive(generation)).toBe(true)

    // The recorded pid reused by another process of nobody (its start time differs).
    patch(116, nobody!.uid)
    await killDaemon(generation)
    const other = spawn('sleep', ['600'], { stdio: 'ignore', uid: nobody!.uid, gid: nobody!.gid })
    const others = [other]
    try {
      track(other.pid!)
      patch(20, other.pid!) // daemon_pid
      st = await runCli(['status', 'reused', '--json'], env)
      expect(json(st).survivors).toBeUndefined()
      expect(json(st).message).toContain(`its daemon (pid ${other.pid}) is gone (that pid is another process now, left alone)`)
      stopped = await runCli(['stop', 'reused'], env)
      expect(stopped.code, stopped.err).toBe(0)
      expect(stopped.out).toMatch(/^not running/)
      expect(isAlive(other.pid!)).toBe(true)
      expect(existsSync(pidFile)).toBe(true) // stale: left for the next start
    } finally {
      await killChildren(others)
    }
  })
})
