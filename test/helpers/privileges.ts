// Shared by the privilege tests (privileges-nobody.test.ts,
// privileges-checks.test.ts): the target user, the fixtures that report
// what the daemon sees, and readings of its ids from /proc.
import { chownSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { native, type UserEntry } from '../../src/native.js'
import { fixtures } from './caller.js'
import { untilLine } from './files.js'
import { procStatus } from './proc.js'

export const nobody = native().lookupUser('nobody') as UserEntry
export const nogroup = native().lookupGroup(nobody.gid)
export const privDaemon = join(fixtures, 'priv-daemon.mjs')
export const privLaunch = join(fixtures, 'priv-launch.mjs')
// Any file the target user can read serves as the shim's "entry".
export const shimEntry = privDaemon

/** A directory the target user owns (so it may create files in it), made in `dir`. */
export function nobodyDirIn(dir: string, name = 'logs'): string {
  const d = join(dir, name)
  mkdirSync(d, { mode: 0o755 })
  chownSync(d, nobody.uid, nobody.gid)
  return d
}

/** The first JSON line in `file` that has `key`, once it is there (complete lines only). */
export async function lineWith(file: string, key: string): Promise<Record<string, unknown>> {
  const has = (l: string) => l.startsWith('{') && key in (JSON.parse(l) as Record<string, unknown>)
  return JSON.parse(await untilLine(file, has, { what: `a JSON line with "${key}"` })) as Record<string, unknown>
}

export function ids(pid: number): { uid: string; gid: string; groups: number[] } {
  const s = procStatus(pid)
  return {
    uid: s.Uid,
    gid: s.Gid,
    groups: s.Groups.split(/\s+/)
      .filter((g) => g !== '')
      .map(Number)
      .sort((a, b) => a - b),
  }
}

export const four = (id: number) => `${id}\t${id}\t${id}\t${id}`
