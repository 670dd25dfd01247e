// Encodes the plan the helper reads from fd 3 (layout: native/protocol.h).
import { native } from './native.js'

export interface Plan {
  cwd: string
  /** Files the daemon opens for reading, as its own user, before exec. */
  checks: string[]
  execPath: string
  argv: string[]
  env: string[]
  umask: number
  /** Start-up window in ms; 0: the helper leaves once the daemon exec'd. */
  windowMs: number
  waitReady: boolean
  keepOnTimeout: boolean
  hasLock: boolean
  ids?: { uid: number; gid: number; groups: number[] }
  maxOpenFiles?: number
  coreLimit?: number
}

export function encodePlan(plan: Plan): Buffer {
  const c = native().constants
  const strings = [plan.cwd, plan.execPath, ...plan.checks, ...plan.argv, ...plan.env]
  const encoded = strings.map((s) => Buffer.from(`${s}\0`, 'utf8'))
  const stringsLen = encoded.reduce((n, b) => n + b.length, 0)
  const groups = plan.ids?.groups ?? []

  let flags = 0
  if (plan.hasLock) flags |= c.ND_PLAN_HAS_LOCK
  if (plan.waitReady) flags |= c.ND_PLAN_WANT_READY
  if (plan.keepOnTimeout) flags |= c.ND_PLAN_KEEP_ON_TIMEOUT
  if (plan.ids) flags |= c.ND_PLAN_SET_IDS
  if (plan.maxOpenFiles !== undefined) flags |= c.ND_PLAN_SET_NOFILE
  if (plan.coreLimit !== undefined) flags |= c.ND_PLAN_SET_CORE

  const head = Buffer.alloc(c.PLAN_HEADER_SIZE + groups.length * 8)
  let o = 0
  o = head.writeUInt32LE(c.ND_PLAN_MAGIC, o)
  o = head.writeUInt32LE(c.ND_PLAN_VERSION, o)
  o = head.writeUInt32LE(flags, o)
  o = head.writeUInt32LE(plan.umask, o)
  o = head.writeUInt32LE(plan.windowMs, o)
  o = head.writeUInt32LE(groups.length, o)
  o = head.writeBigInt64LE(BigInt(plan.ids?.uid ?? -1), o)
  o = head.writeBigInt64LE(BigInt(plan.ids?.gid ?? -1), o)
  o = head.writeBigUInt64LE(BigInt(plan.maxOpenFiles ?? 0), o)
  o = head.writeBigUInt64LE(BigInt(plan.coreLimit ?? 0), o)
  o = head.writeUInt32LE(plan.argv.length, o)
  o = head.writeUInt32LE(plan.env.length, o)
  o = head.writeBigUInt64LE(BigInt(stringsLen), o)
  o = head.writeUInt32LE(plan.checks.length, o)
  o = head.writeUInt32LE(0, o)
  if (o !== c.PLAN_HEADER_SIZE) throw new Error(`plan header is ${o} bytes, the helper expects ${c.PLAN_HEADER_SIZE}`)
  for (const g of groups) o = head.writeBigInt64LE(BigInt(g), o)
  return Buffer.concat([head, ...encoded])
}
