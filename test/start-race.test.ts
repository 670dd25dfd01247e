// Fifty starts of one pid file from fifty separate processes, released at
// once: exactly one daemon, and forty-nine refusals that name its pid.
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, expect, it } from 'vitest'
import { status } from '../src/control/status.js'
import { stop } from '../src/control/stop.js'
import { execShim, fixtures, root } from './helpers/caller.js'
import { cleanUpDaemons, killChildren, track } from './helpers/daemons.js'
import { isAlive } from './helpers/proc.js'
import { cleanUpScratchDirs, scratchDir } from './helpers/scratch.js'

cleanUpScratchDirs()
cleanUpDaemons()

const CONTENDERS = 50
const children: ChildProcess[] = []

afterEach(async () => {
  await killChildren(children)
})

interface Outcome {
  ok: boolean
  pid: number | null
  code?: string
  message?: string
  stage?: string
}

/** Start one contender; resolves `loaded` once it is ready to go, `outcome` with its result. */
function contender(pidFile: string, logFile: string, entry: string): { child: ChildProcess; loaded: Promise<void>; outcome: Promise<Outcome> } {
  const child = spawn(
    process.execPath,
    [join(fixtures, 'lifecycle-race-start.mjs'), join(root, 'dist', 'index.js'), pidFile, logFile, execShim, entry],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  children.push(child)
  const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> })
  let onLoaded: () => void
  let onOutcome: (o: Outcome) => void
  const loaded = new Promise<void>((resolve, reject) => {
    onLoaded = resolve
    child.once('close', (code, signal) => reject(new Error(`contender ${child.pid} exited (${code ?? signal}) before it loaded`)))
  })
  const outcome = new Promise<Outcome>((resolve, reject) => {
    onOutcome = resolve
    // 'close', not 'exit': 'exit' can come before the child's last stdout
    // line has been read (a busy parent reaps many children at once), and
    // would reject a contender that did print its result.
    child.once('close', (code, signal) => reject(new Error(`contender ${child.pid} exited (${code ?? signal}) without a result`)))
  })
  lines.on('line', (line) => {
    if (line === 'loaded') onLoaded()
    else if (line.startsWith('{')) onOutcome(JSON.parse(line) as Outcome)
  })
  return { child, loaded, outcome }
}

it(`${CONTENDERS} concurrent starts of one pid file: one daemon, ${CONTENDERS - 1} refusals naming it`, { timeout: 180_000 }, async () => {
  const dir = scratchDir('nd-race-', 0o755)
  const pidFile = join(dir, 'race.pid')
  const logFile = join(dir, 'race.log')
  const entry = join(dir, 'entry.js')
  writeFileSync(entry, '// the exec shim ignores its entry\n')

  const all = Array.from({ length: CONTENDERS }, () => contender(pidFile, logFile, entry))
  await Promise.all(all.map((c) => c.loaded))
  // All loaded and waiting: release them together.
  for (const c of all) c.child.stdin?.write('go\n')
  const outcomes = await Promise.all(all.map((c) => c.outcome))

  const winners = outcomes.filter((o) => o.ok)
  for (const w of winners) track(w.pid as number)
  expect(winners).toHaveLength(1)
  const pid = winners[0].pid as number
  const refusals = outcomes.filter((o) => !o.ok)
  expect(refusals).toHaveLength(CONTENDERS - 1)
  for (const r of refusals) {
    expect(r).toEqual({ ok: false, code: 'EALREADY', stage: 'pidfile', pid, message: `already running (pid ${pid})` })
  }

  // The one daemon holds the file, which names it.
  expect(isAlive(pid)).toBe(true)
  expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(pid))
  expect(status(pidFile)).toMatchObject({ state: 'running', code: 0, pid })
  // Only one daemon ever ran: the shim prints one line when it starts.
  const shimLines = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{') && !l.includes('"name":"node-daemonize"'))
  expect(shimLines).toHaveLength(1)
  expect(JSON.parse(shimLines[0]).pid).toBe(pid)

  expect(await stop(pidFile)).toMatchObject({ wasRunning: true, pid, escalated: false })
  expect(status(pidFile).code).toBe(3)
})
