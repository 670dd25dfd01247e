// The plan the helper reads (struct nd_plan_header, the groups, struct
// nd_respawn_plan, the strings: native/protocol.h), read back here field by
// field with Buffer's own readers. Issue 23, fifth pass: encodePlan writes
// through a DataView into one buffer (no Buffer.concat, no write*LE), and
// this pins that it still lays every field where the helper looks for it.
import { describe, expect, it } from 'vitest'
import { encodePlan, type Plan } from '../../src/launch/plan.js'
import { native } from '../../src/native.js'

const c = native().constants

const full: Plan = {
  cwd: '/srv',
  checks: ['/srv/app.js', '/p.cjs'],
  execPath: '/usr/bin/node',
  argv: ['/usr/bin/node', '/srv/app.js', Buffer.from([0xff, 0x41])],
  env: ['A=1', 'É=\u{1F600}', Buffer.from([0x42, 0x3d, 0xc3])],
  nsockets: 2,
  umask: 0o027,
  windowMs: 4294967295,
  waitReady: true,
  keepOnTimeout: true,
  hasLock: true,
  hasPidFile: true,
  ids: { uid: 65534, gid: 65533, groups: [1, 2000000000] },
  maxOpenFiles: 1024,
  coreLimit: 0,
  dryRun: false,
  faultStopAfterFork: false,
  respawn: { mode: 'always', delayMs: 100, maxDelayMs: 5000, limit: 10, windowMs: 60000, minUptimeMs: 1000, stopTimeoutMs: 10000, noRespawnExit: [0, 3, 255] },
  instances: 4,
  maxMemoryBytes: 2 ** 40 + 7,
  faultNoSubreaper: false,
  faultNoCgroup: false,
} as Plan

describe('encodePlan', () => {
  it('lays out the header, the groups, the respawn plan and the NUL-terminated strings', () => {
    const b = encodePlan(full)
    const u32 = (o: number) => b.readUInt32LE(o)
    expect([u32(0), u32(4)]).toEqual([c.ND_PLAN_MAGIC, c.ND_PLAN_VERSION])
    const flags = u32(8)
    for (const f of [c.ND_PLAN_HAS_LOCK, c.ND_PLAN_HAS_PIDFILE, c.ND_PLAN_WANT_READY, c.ND_PLAN_KEEP_ON_TIMEOUT, c.ND_PLAN_SET_IDS, c.ND_PLAN_SET_NOFILE, c.ND_PLAN_SET_CORE, c.ND_PLAN_RESPAWN]) {
      expect(flags & f).toBe(f)
    }
    expect(flags & c.ND_PLAN_DRY_RUN).toBe(0)
    expect([u32(12), u32(16), u32(20)]).toEqual([0o027, 4294967295, 2])
    expect([b.readBigInt64LE(24), b.readBigInt64LE(32), b.readBigUInt64LE(40), b.readBigUInt64LE(48)]).toEqual([65534n, 65533n, 1024n, 0n])
    expect([u32(56), u32(60)]).toEqual([3, 3])
    const stringsLen = Number(b.readBigUInt64LE(64))
    expect([u32(72), u32(76)]).toEqual([2, 2])
    let o = c.PLAN_HEADER_SIZE
    expect([b.readBigInt64LE(o), b.readBigInt64LE(o + 8)]).toEqual([1n, 2000000000n])
    o += 16
    const r = o
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((i) => u32(r + 4 * i))).toEqual([2, 100, 5000, 10, 60000, 1000, 10000, 4])
    const bits = b.subarray(r + 32, r + 64)
    expect([...bits].map((byte, i) => (byte === 0 ? [] : [i, byte])).filter((x) => x.length > 0)).toEqual([[0, 0b1001], [31, 0x80]])
    expect(b.readBigUInt64LE(r + 64)).toBe(2n ** 40n + 7n)
    o += c.RESPAWN_PLAN_SIZE
    const strings = b.subarray(o)
    expect(strings.length).toBe(stringsLen)
    const parts: Buffer[] = []
    for (let at = 0; at < strings.length; ) {
      const end = strings.indexOf(0, at)
      parts.push(strings.subarray(at, end))
      at = end + 1
    }
    const want = [full.cwd, full.execPath, ...full.checks, ...full.argv, ...full.env].map((s) => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s))
    expect(parts).toEqual(want)
  })

  it('without respawn or ids: no respawn plan, uid and gid -1, the strings right after the header', () => {
    const b = encodePlan({ ...full, respawn: undefined, ids: undefined, maxOpenFiles: undefined, coreLimit: undefined })
    expect([b.readBigInt64LE(24), b.readBigInt64LE(32), b.readUInt32LE(20)]).toEqual([-1n, -1n, 0])
    expect(b.readUInt32LE(8) & (c.ND_PLAN_RESPAWN | c.ND_PLAN_SET_IDS | c.ND_PLAN_SET_NOFILE | c.ND_PLAN_SET_CORE)).toBe(0)
    expect(b.subarray(c.PLAN_HEADER_SIZE, c.PLAN_HEADER_SIZE + 5).toString()).toBe('/srv\0')
    expect(b.length).toBe(c.PLAN_HEADER_SIZE + Number(b.readBigUInt64LE(64)))
  })

  it('strings only (one join, one encoding): the same NUL-terminated strings, UTF-8', () => {
    const plain = { ...full, respawn: undefined, ids: undefined, argv: ['/usr/bin/node', '/srv/app.js', ''], env: ['A=1', 'É=\u{1F600}'] }
    const b = encodePlan(plain)
    const strings = b.subarray(c.PLAN_HEADER_SIZE)
    expect(strings.length).toBe(Number(b.readBigUInt64LE(64)))
    const want = [plain.cwd, plain.execPath, ...plain.checks, ...plain.argv, ...plain.env].map((x) => `${x}\0`).join('')
    expect(strings.toString('utf8')).toBe(want)
    expect(strings.at(-1)).toBe(0)
  })

  it('refuses a field its C type cannot hold, as Buffer.writeUInt32LE did', () => {
    expect(() => encodePlan({ ...full, umask: -1 })).toThrow(RangeError)
    expect(() => encodePlan({ ...full, windowMs: 2 ** 32 })).toThrow(RangeError)
    expect(() => encodePlan({ ...full, windowMs: 1.5 })).toThrow(RangeError)
    expect(() => encodePlan({ ...full, maxOpenFiles: -5 })).toThrow(RangeError)
  })
})
