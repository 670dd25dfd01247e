// Resolves `user` / `group` in the caller, before anything is spawned: the
// helper never looks a name up.
import { inspect } from 'node:util'
import { DaemonizeError, optionError } from '../errors.js'
import { native, type UserEntry } from '../native.js'

export interface Credentials {
  uid: number
  gid: number
  /** Supplementary groups, as setgroups(2) will set them. */
  groups: number[]
  /** The target user's passwd entry, when the uid has one. */
  user?: UserEntry
}

function asId(v: string | number): string | number {
  return typeof v === 'number' || !/^\d+$/.test(v) ? v : Number(v)
}

/** A name, or an id below (uid_t)-1 (which setuid/setgid read as "unchanged"). */
function checkId(what: 'user' | 'group', v: unknown): void {
  if (typeof v === 'string' && v !== '' && !v.includes('\0')) {
    if (!/^\d+$/.test(v) || Number(v) < 0xffffffff) return
  } else if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 0xffffffff) return
  // inspect, not JSON.stringify: that throws on a BigInt.
  throw optionError(`${what} must be a name or an id from 0 to 4294967294, got ${inspect(v)}`)
}

function lookupUserOrThrow(user: string | number): UserEntry | null {
  const key = asId(user)
  const entry = native().lookupUser(key)
  if (entry === null && typeof key === 'string') {
    throw new DaemonizeError(`unknown user '${user}'`, { stage: 'user', code: 'ERR_UNKNOWN_USER' })
  }
  return entry
}

function lookupGroupOrThrow(group: string | number): number {
  const key = asId(group)
  const entry = native().lookupGroup(key)
  if (entry === null) {
    if (typeof key === 'number') return key
    throw new DaemonizeError(`unknown group '${group}'`, { stage: 'user', code: 'ERR_UNKNOWN_GROUP' })
  }
  return entry.gid
}

/**
 * Check `user` and `group` (names must exist, ids may be anything valid)
 * without resolving credentials for this caller: a unit file names them for
 * systemd, whoever writes it. Returns the user's uid, when one is given.
 */
export function checkAccount(user?: string | number, group?: string | number): number | undefined {
  if (group !== undefined) {
    checkId('group', group)
    lookupGroupOrThrow(group)
  }
  if (user === undefined) return undefined
  checkId('user', user)
  return lookupUserOrThrow(user)?.uid ?? (asId(user) as number)
}

/**
 * The ids the daemon will run as, or undefined when nothing changes.
 * A non-root caller may only name itself; anything else is EPERM here,
 * before any process exists.
 */
export function resolveCredentials(user?: string | number, group?: string | number): Credentials | undefined {
  // Most launches name neither: the work below is a function of its own,
  // compiled only when one is named (in the CLI's bundles, each function
  // that runs is compiled with its bundle: scripts/eager.mjs).
  return user === undefined && group === undefined ? undefined : namedCredentials(user, group)
}

function namedCredentials(user: string | number | undefined, group: string | number | undefined): Credentials | undefined {
  if (user !== undefined) checkId('user', user)
  if (group !== undefined) checkId('group', group)
  const myUid = process.getuid?.() ?? 0
  const myGid = process.getgid?.() ?? 0
  const entry = user === undefined ? null : lookupUserOrThrow(user)
  const uid = user === undefined ? myUid : (entry?.uid ?? (asId(user) as number))
  const gid = group !== undefined ? lookupGroupOrThrow(group) : (entry?.gid ?? myGid)

  if (myUid !== 0) {
    if (uid !== myUid || gid !== myGid) {
      throw new DaemonizeError(
        `only root can start a daemon as another user or group (asked for uid ${uid}, gid ${gid}; running as uid ${myUid})`,
        { stage: 'user', code: 'EPERM', errno: -1, syscall: 'setuid' },
      )
    }
    // Its own ids: nothing to drop (and setgroups would fail without privilege).
    return undefined
  }
  if (user !== undefined && entry === null && group === undefined) {
    // A bare uid has no primary group; falling back to the caller's would
    // hand root's group to an unprivileged daemon.
    throw new DaemonizeError(`uid ${uid} has no passwd entry, so no primary group: give a group too`, {
      stage: 'user',
      code: 'ERR_UNKNOWN_USER',
    })
  }
  const groups = entry ? native().groupList(entry.name, gid) : [gid]
  if (!groups.includes(gid)) groups.unshift(gid)
  return { uid, gid, groups: [...new Set(groups)], user: entry ?? undefined }
}
