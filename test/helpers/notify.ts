// A stand-in for systemd's notify socket (test/fixtures/daemon-notify-receiver.py):
// every datagram it gets, with the sender's pid from SCM_CREDENTIALS as
// systemd takes it.
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach } from 'vitest'
import { native } from '../../src/native.js'
import { fixtures } from './caller.js'
import { until } from './wait.js'

export interface Datagram {
  msg: string
  pid: number | null
  /** fds that came with the datagram (SCM_RIGHTS), when any did */
  fds?: number
}

export interface Receiver {
  name: string
  got: Datagram[]
}

const receivers: ChildProcess[] = []

/** Stop every receiver after each test of the file that calls this. */
export function cleanUpReceivers(): void {
  afterEach(() => {
    for (const r of receivers.splice(0)) r.kill('SIGKILL')
  })
}

/** A receiver bound at `name` (a path, or "@name" for an abstract socket). */
export async function receiver(name: string): Promise<Receiver> {
  const child = spawn('python3', [join(fixtures, 'daemon-notify-receiver.py'), name], { stdio: ['ignore', 'pipe', 'inherit'] })
  receivers.push(child)
  const r: Receiver = { name, got: [] }
  let bound = false
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const m = JSON.parse(line) as { bound?: string } & Datagram
    if (m.bound !== undefined) bound = true
    else r.got.push(m.fds === undefined ? { msg: m.msg, pid: m.pid } : { msg: m.msg, pid: m.pid, fds: m.fds })
  })
  await until(`the notify receiver to bind ${name}`, () => bound)
  return r
}

/**
 * Everything the receiver got before a sentinel we send now: datagrams on
 * one socket arrive in order, so this proves what was (not) sent earlier
 * without waiting for a time.
 */
export async function receivedBefore(r: Receiver): Promise<Datagram[]> {
  const sentinel = `SENTINEL=${Math.random()}\n`
  native().sdNotify(r.name, sentinel)
  await until(`the sentinel datagram at ${r.name}`, () => r.got.some((d) => d.msg === sentinel), { seen: () => r.got })
  return r.got.slice(0, r.got.findIndex((d) => d.msg === sentinel))
}
