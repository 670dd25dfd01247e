// Reading the supervisor's state file (src/supervise-state.ts): one
// 4088-byte record (192 for version 2, 208 for version 3, 728 for version 4,
// 1504 for version 5:
// a supervisor of an earlier release), read bounded, from a file shaped like
// the caller's own.
import { chmodSync, symlinkSync, writeFileSync, linkSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { decodeState, readSupervisorState, STATE_F_ONE_SHOT, STATE_SIZE } from '../../src/files/state-file.js'
import { cleanUpScratchDirs, scratchDir } from '../helpers/scratch.js'

cleanUpScratchDirs()

let dir: string
beforeEach(() => {
  dir = scratchDir('nd-state-')
})
const me = process.getuid!()

/** A record laid out as native/supervise_state.h says. */
function record(
  fields: {
    state?: number
    seq?: bigint
    seqEnd?: bigint
    daemonPid?: number
    exitKind?: number
    exitValue?: number
    flags?: number
    version?: number
    cgroupDir?: Buffer | string
    cgroupId?: bigint
    /** Version 5: each instance's pid (0: none right now); its start ticks are 200000 + its index. */
    instances?: number[]
    /** Version 6: each instance's flags (ND_INSTANCE_F_*; default: up and ready while its pid is set). */
    instanceFlags?: number[]
  } = {},
): Buffer {
  const version = fields.version ?? 6
  const v2 = version === 2
  const size = { 2: 192, 3: 208, 4: 728, 5: 1504 }[version] ?? STATE_SIZE
  const b = Buffer.alloc(size)
  b.writeUInt32LE(0x5653444e, 0)
  b.writeUInt32LE(version, 4)
  b.writeBigUInt64LE(fields.seq ?? 7n, 8)
  b.writeInt32LE(1234, 16)
  b.writeInt32LE(fields.daemonPid ?? 1235, 20)
  b.writeUInt32LE(fields.state ?? 2, 24)
  b.writeUInt32LE(fields.flags ?? 2 + 16, 28) // ready, generations in cgroups
  b.writeUInt32LE(4, 32)
  b.writeUInt32LE(3, 36)
  b.writeUInt32LE(fields.exitKind ?? 2, 40)
  b.writeInt32LE(fields.exitValue ?? 9, 44)
  b.writeBigInt64LE(1_000n, 48)
  b.writeBigInt64LE(2_000n, 56)
  b.writeBigInt64LE(3_000n, 64)
  b.writeUInt32LE(400, 72)
  b.writeUInt32LE(0, 76)
  b.writeUInt32LE(5, 80)
  b.writeUInt32LE(60_000, 84)
  b.writeUInt32LE(3, 88)
  b.writeUInt32LE(10_000, 92)
  b.writeBigInt64LE(4_000n, 96)
  b.writeUInt32LE(6, 108)
  b.writeInt32LE(1233, 112)
  if (!v2) b.writeUInt32LE(65534, 116) // service_uid
  // graceful restarts: 3 begun, 2 decided (the last: not-ready), one refused
  b.writeUInt32LE(3, 120)
  b.writeUInt32LE(2, 124)
  b.writeInt32LE(777, 128)
  b.writeUInt32LE(3, 132)
  b.writeInt32LE(1240, 136)
  b.writeInt32LE(0, 140)
  b.writeInt32LE(1240, 144)
  b.writeInt32LE(1235, 148)
  b.writeInt32LE(5000, 152)
  b.writeUInt32LE(0, 156)
  b.writeUInt32LE(1, 160)
  b.writeInt32LE(778, 164)
  b.writeUInt32LE(1, 168)
  b.writeUInt32LE(250, 172)
  b.writeUInt32LE(5100, 176)
  b.writeUInt32LE(30_000, 180)
  if (!v2) {
    b.writeBigUInt64LE(123_456n, 184) // the generation's start time, in clock ticks
    b.writeBigUInt64LE(123_400n, 192) // the supervisor's
  }
  if (version >= 4) {
    b.writeBigUInt64LE(fields.cgroupId ?? 4_294_967_301n, 200) // the service cgroup's inode
    Buffer.from(fields.cgroupDir ?? '/sys/fs/cgroup/nd-app-0badf00d-1234').copy(b, 208) // its path, NUL-terminated
  }
  if (version >= 5) {
    const pids = fields.instances ?? [fields.daemonPid ?? 1235]
    b.writeUInt32LE(pids.length, 720)
    pids.forEach((pid, i) => {
      b.writeInt32LE(pid, 728 + 4 * i)
      if (pid > 0) b.writeBigUInt64LE(BigInt(200_000 + i), 984 + 8 * i)
    })
    if (version >= 6) {
      pids.forEach((pid, i) => {
        b.writeUInt32LE(fields.instanceFlags?.[i] ?? (pid > 0 ? 3 : 0), 1496 + 4 * i)
        b.writeUInt32LE(i, 1752 + 4 * i) // restarts
        b.writeUInt32LE(1, 2008 + 4 * i) // release
        b.writeUInt32LE(0, 2264 + 4 * i) // memory restarts
        b.writeBigInt64LE(BigInt(5_000 + i), 3032 + 8 * i) // started
        b.writeBigInt64LE(BigInt(9_000 + i), 3544 + 8 * i) // restart at
      })
      b.writeBigUInt64LE(512n * 1024n * 1024n, 4056)
      b.writeUInt32LE(pids.filter((p) => p > 0).length, 4064)
      b.writeUInt32LE(pids.filter((p) => p > 0).length, 4068)
      b.writeUInt32LE(64, 4072) // no roll
      b.writeUInt32LE(1, 4076) // the last roll stopped at instance 1
    }
  }
  b.writeBigUInt64LE(fields.seqEnd ?? fields.seq ?? 7n, size - 8)
  return b
}

describe('the supervisor state record', () => {
  it('decodes every field', () => {
    expect(decodeState(record())).toEqual({
      state: 'running', supervisorPid: 1234, daemonPid: 1235, generation: 4, restarts: 3, lastExit: { signal: 9 },
      ready: true, goodStart: false, subreaper: true, cgroups: true, cgroup: { dir: '/sys/fs/cgroup/nd-app-0badf00d-1234', id: 4_294_967_301n },
      supervisorStartedAt: 1000, daemonStartedAt: 2000,
      restartAt: undefined, restartDelayMs: undefined, reason: undefined, limit: 5, windowMs: 60_000, deathsInWindow: 3,
      deaths: 6, stopTimeoutMs: 10_000, updatedAt: 4000, stopSignal: undefined, sid: 1233, waitReady: false,
      serviceUid: 65534, daemonStartTicks: 123_456, supervisorStartTicks: 123_400, oneShot: false,
      instances: [{
        index: 0, pid: 1235, startTicks: 200_000, phase: 'up', ready: true, restarts: 0, release: 1, memoryRestarts: 0, startedAt: 5_000,
        restartAt: undefined, nextPid: undefined, drainingPid: undefined,
      }],
      instancesSummary: { up: 1, ready: 1, memoryLimitBytes: 512 * 1024 * 1024, rollingAt: undefined, rollStoppedAt: 1 },
      graceful: {
        seq: 3, done: 2, requester: 777, outcome: 'not-ready', nextPid: 1240, drainingPid: undefined, newPid: 1240, oldPid: 1235,
        value: 5000, stage: 0, refusals: 1, refusedPid: 778, refusedWhy: 'in-progress', readyMs: 250, tookMs: 5100, waitReadyMs: 30_000,
      },
    })
    expect(decodeState(record({ flags: 8 }))).toMatchObject({ waitReady: true, ready: false })
    expect(decodeState(record({ state: 3, daemonPid: 0, exitKind: 1, exitValue: 1, flags: 1 }))).toMatchObject({
      state: 'restarting', daemonPid: undefined, restartAt: 3000, restartDelayMs: 400, lastExit: { code: 1 }, subreaper: false,
      daemonStartTicks: undefined,
    })
    expect(decodeState(record({ flags: 32 }))).toMatchObject({ oneShot: true })
  })

  it('decodes a version 2 record (a supervisor started by an earlier release): no uid, no start times', () => {
    expect(decodeState(record({ version: 2 }))).toMatchObject({
      supervisorPid: 1234, daemonPid: 1235, sid: 1233, serviceUid: undefined, daemonStartTicks: undefined, supervisorStartTicks: undefined,
    })
    // a version 2 record is 192 bytes, a version 4 one 728: each only at its own size
    expect(decodeState(Buffer.concat([record({ version: 2 }), Buffer.alloc(16)]))).toBeUndefined()
    expect(decodeState(record().subarray(0, 192))).toBeUndefined()
  })

  it('decodes a version 6 record\'s instances: each one\'s phase, readiness, restarts, release, times; the counts and the roll', () => {
    const st = decodeState(record({ instances: [1235, 0, 0, 1241], instanceFlags: [3 | 16, 4, 8, 1] }))
    expect(st?.instances).toEqual([
      { index: 0, pid: 1235, startTicks: 200_000, phase: 'up', ready: true, restarts: 0, release: 1, memoryRestarts: 0, startedAt: 5_000, restartAt: undefined, nextPid: undefined, drainingPid: undefined },
      { index: 1, phase: 'restarting', ready: false, restarts: 1, release: 1, memoryRestarts: 0, startedAt: undefined, restartAt: 9_001, nextPid: undefined, drainingPid: undefined },
      { index: 2, phase: 'gave-up', ready: false, restarts: 2, release: 1, memoryRestarts: 0, startedAt: undefined, restartAt: undefined, nextPid: undefined, drainingPid: undefined },
      { index: 3, pid: 1241, startTicks: 200_003, phase: 'up', ready: false, restarts: 3, release: 1, memoryRestarts: 0, startedAt: 5_003, restartAt: undefined, nextPid: undefined, drainingPid: undefined },
    ])
    expect(st?.instancesSummary).toEqual({ up: 2, ready: 2, memoryLimitBytes: 512 * 1024 * 1024, rollingAt: undefined, rollStoppedAt: 1 })
    // a pid without the up flag is not up
    expect(decodeState(record({ instances: [1235], instanceFlags: [0] }))?.instances?.[0]).toMatchObject({ phase: 'down', ready: false })
  })

  it('decodes a version 5 record\'s instances (--instances): each index, its pid and start ticks, or none right now', () => {
    expect(decodeState(record({ version: 5, instances: [1235, 0, 1240] }))?.instances).toEqual([
      { index: 0, pid: 1235, startTicks: 200_000 },
      { index: 1 },
      { index: 2, pid: 1240, startTicks: 200_002 },
    ])
    // a one-shot record (count 0) or a count past 64 names none
    expect(decodeState(record({ instances: [] }))?.instances).toBeUndefined()
    expect(decodeState(record({ version: 5 }))?.instancesSummary).toBeUndefined()
    expect(decodeState(Buffer.concat([record({ version: 5 }), Buffer.alloc(16)]))).toBeUndefined()
    const over = record()
    over.writeUInt32LE(65, 720)
    expect(decodeState(over)?.instances).toBeUndefined()
  })

  it('decodes a version 4 record (a supervisor started by an earlier release): its cgroup, no instances', () => {
    expect(decodeState(record({ version: 4 }))).toMatchObject({ cgroup: { dir: '/sys/fs/cgroup/nd-app-0badf00d-1234' }, instances: undefined })
    expect(decodeState(Buffer.concat([record({ version: 4 }), Buffer.alloc(16)]))).toBeUndefined()
    expect(decodeState(record().subarray(0, 728))).toBeUndefined()
  })

  it('decodes a version 3 record (a supervisor started by an earlier release): no cgroup named', () => {
    expect(decodeState(record({ version: 3 }))).toMatchObject({ cgroups: true, cgroup: undefined, serviceUid: 65534, daemonStartTicks: 123_456 })
    expect(decodeState(Buffer.concat([record({ version: 3 }), Buffer.alloc(16)]))).toBeUndefined()
    expect(decodeState(record().subarray(0, 208))).toBeUndefined()
  })

  it('names the service cgroup only with the cgroup flag, an absolute UTF-8 path and an inode', () => {
    expect(decodeState(record({ flags: 2 }))?.cgroup).toBeUndefined()
    expect(decodeState(record({ cgroupDir: '' }))?.cgroup).toBeUndefined()
    expect(decodeState(record({ cgroupDir: 'sys/fs/cgroup/nd-x' }))?.cgroup).toBeUndefined()
    expect(decodeState(record({ cgroupDir: Buffer.from([0x2f, 0xff, 0x41]) }))?.cgroup).toBeUndefined()
    expect(decodeState(record({ cgroupId: 0n }))?.cgroup).toBeUndefined()
    // the path ends at its NUL; a full 512 bytes without one is not a path
    expect(decodeState(record({ cgroupDir: `/${'a'.repeat(511)}` }))?.cgroup).toBeUndefined()
  })

  it('refuses a torn record (its two sequence numbers differ), a short one and a foreign one', () => {
    expect(decodeState(record({ seq: 8n, seqEnd: 7n }))).toBeUndefined()
    expect(decodeState(record().subarray(0, 100))).toBeUndefined()
    expect(decodeState(Buffer.alloc(STATE_SIZE))).toBeUndefined()
    expect(decodeState(record({ state: 99 }))).toBeUndefined()
  })
})

describe('readSupervisorState', () => {
  it('reads the record, and nothing for a missing or still empty file', () => {
    const p = join(dir, 'a.pid.state')
    expect(readSupervisorState(p, me)).toBeUndefined()
    writeFileSync(p, '', { mode: 0o644 })
    expect(readSupervisorState(p, me)).toBeUndefined()
    writeFileSync(p, record())
    expect(readSupervisorState(p, me)?.daemonPid).toBe(1235)
    writeFileSync(p, record({ version: 2 }))
    expect(readSupervisorState(p, me)).toMatchObject({ daemonPid: 1235, serviceUid: undefined })
    writeFileSync(p, record({ version: 3 }))
    expect(readSupervisorState(p, me)).toMatchObject({ daemonPid: 1235, serviceUid: 65534, cgroup: undefined })
  })

  it('reads one record only, from offset 0, of a file made longer', () => {
    const p = join(dir, 'b.pid.state')
    writeFileSync(p, Buffer.concat([record(), Buffer.alloc(1 << 20, 0x41)]))
    expect(readSupervisorState(p, me)?.supervisorPid).toBe(1234)
    writeFileSync(p, Buffer.concat([record({ version: 2 }), Buffer.alloc(1 << 20, 0x41)]))
    expect(readSupervisorState(p, me)?.supervisorPid).toBe(1234)
    writeFileSync(p, Buffer.concat([record({ version: 3 }), Buffer.alloc(1 << 20, 0x41)]))
    expect(readSupervisorState(p, me)?.supervisorPid).toBe(1234)
  })

  it('refuses a symlink, a hard link, a wrong owner, a group-writable file and garbage', () => {
    const real = join(dir, 'real')
    writeFileSync(real, record())
    chmodSync(real, 0o644)
    const sym = join(dir, 'sym.state')
    symlinkSync(real, sym)
    expect(() => readSupervisorState(sym, me)).toThrow(/symbolic link/)
    const hard = join(dir, 'hard.state')
    linkSync(real, hard)
    expect(() => readSupervisorState(hard, me)).toThrow(/2 links/)
    const other = join(dir, 'other.state')
    writeFileSync(other, record())
    expect(() => readSupervisorState(other, me + 1)).toThrow(/is owned by .*; refusing it/)
    chmodSync(other, 0o664)
    expect(() => readSupervisorState(other, me)).toThrow(/writable by group/)
    const junk = join(dir, 'junk.state')
    writeFileSync(junk, 'x'.repeat(200), { mode: 0o644 })
    expect(() => readSupervisorState(junk, me)).toThrow(/does not hold a supervisor state record/)
  })

  // Issue 23, fifth pass (and its review): status and stop ask for a
  // supervisor's record only, and a whole one-shot record is answered from
  // its header without decoding the rest. What decodeState refuses must
  // still be refused: a torn record, one whose state is not ours.
  it('supervisedOnly: nothing for a whole one-shot record, the record otherwise, and a broken one-shot record still refused', () => {
    const p = join(dir, 'c.pid.state')
    writeFileSync(p, record({ flags: STATE_F_ONE_SHOT }), { mode: 0o644 })
    expect(readSupervisorState(p, me, { supervisedOnly: true })).toBeUndefined()
    expect(readSupervisorState(p, me)?.oneShot).toBe(true)
    writeFileSync(p, record())
    expect(readSupervisorState(p, me, { supervisedOnly: true })).toMatchObject({ supervisorPid: 1234, oneShot: false })
    writeFileSync(p, record({ flags: STATE_F_ONE_SHOT, state: 99 }))
    expect(() => readSupervisorState(p, me, { supervisedOnly: true })).toThrow(/does not hold a supervisor state record/)
    writeFileSync(p, record({ flags: STATE_F_ONE_SHOT, seqEnd: 8n }))
    expect(() => readSupervisorState(p, me, { supervisedOnly: true })).toThrow(/does not hold a supervisor state record/)
  })
})
