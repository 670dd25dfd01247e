// The saved start spec of a named daemon: what `start --name` ran, as
// resolved (absolute paths, the whole environment, the respawn policy), in
// `<specs>/<name>.json`. stop, status, reload, restart, list and logs find
// the daemon through it; restart starts it again from it, and a restart
// with new options rewrites it. It is the index of every named daemon too:
// it names the pid file and the log, explicit or default.
//
// Trust: a spec is run by whoever owns it, and only by them. It is read
// through a checked fd (O_NOFOLLOW|O_NONBLOCK, a regular file with one
// link, owned by this euid, writable by nobody else, bounded size) from a
// checked directory; written as a temp file (O_EXCL, 0600), fsync'd and
// renamed over the old one, so a reader sees the old spec or the new one.
import { closeSync, constants as fsc, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ENV_PREFIX } from '../daemon/contract.cjs'
import { DaemonizeError, stageError } from '../errors.js'
import { checkFileShape, checkOwner, euid, readUntrusted } from '../files/checks.js'
import { checkName, nameDirs, nameOfSpecFile, specPathOf, type NameDirs } from './paths.js'
import type { DaemonizeOptions } from '../options/daemonize-options.js'
import { resolveRespawn } from '../options/respawn.js'
import { listenGiven } from '../options/listen-given-part.js'
import { isListenVar } from '../options/listen.js'
import { checkDir } from '../files/state-dirs.js'

export const SPEC_FORMAT = 'node-daemonize-spec'
export const SPEC_VERSION = 1
/** A spec is never read past this: the environment and arguments of a launch fit well below it (the kernel's own limit is lower). */
export const MAX_SPEC_BYTES = 4 * 1024 * 1024

/** A value that is UTF-8 text as a JSON string; any other bytes as base64, losslessly. */
export type SavedBytes = string | { base64: string }

/** The options of a spec, as stored: DaemonizeOptions with bytes made JSON. */
export interface SavedOptions extends Omit<DaemonizeOptions, 'args' | 'env' | 'notifySystemd'> {
  args: SavedBytes[]
  env: Record<string, SavedBytes>
}

export interface SavedSpec {
  format: typeof SPEC_FORMAT
  version: typeof SPEC_VERSION
  name: string
  /** Who wrote it: the only user it runs as, or for. */
  uid: number
  /** When it was written (ISO 8601). */
  savedAt: string
  options: SavedOptions
}

/** A spec loaded and checked: what start, restart and the unit command use. */
export interface LoadedSpec {
  name: string
  /** The start options, as resolved when it was saved (name, pidFile and logFile included). */
  options: DaemonizeOptions
  specPath: string
  uid: number
  savedAt: string
}

function encodeBytes(v: string | Buffer): SavedBytes {
  return typeof v === 'string' ? v : { base64: v.toString('base64') }
}

function decodeBytes(v: unknown, what: string, path: string): string | Buffer {
  if (typeof v === 'string') return v
  if (v !== null && typeof v === 'object' && typeof (v as { base64?: unknown }).base64 === 'string') {
    return Buffer.from((v as { base64: string }).base64, 'base64')
  }
  throw invalid(path, `${what} is neither a string nor {base64}`)
}

function invalid(path: string, why: string): DaemonizeError {
  return new DaemonizeError(`spec ${path} is not a valid start spec: ${why}`, { stage: 'spec', code: 'EINVAL', path })
}

/**
 * The options as they will run, made independent of the caller: paths
 * absolute, the environment written out (the caller's when none was given;
 * NODE_DAEMONIZE_* and NOTIFY_SOCKET left out, as a launch leaves them),
 * respawn as its full policy, a unix socket's path absolute. notifySystemd
 * depends on who runs the start, so it is not kept; nor are systemd's
 * LISTEN_* variables. listenInherited is: a restart outside socket
 * activation then fails and says why, rather than start without sockets.
 */
export function resolvedSpecOptions(options: DaemonizeOptions): SavedOptions {
  const { args, env, notifySystemd: _n, ...rest } = options
  const out: SavedOptions = { ...rest, args: (args ?? []).map(encodeBytes), env: {} }
  out.entry = resolve(options.entry)
  out.cwd = resolve(options.cwd ?? '/')
  out.execPath = resolve(options.execPath ?? process.execPath)
  if (options.pidFile !== undefined) out.pidFile = resolve(options.pidFile)
  if (options.logFile !== undefined) out.logFile = resolve(options.logFile)
  if (Array.isArray(options.listen)) out.listen = options.listen.map(absoluteListenSpec)
  const respawn = resolveRespawn(options.respawn)
  if (respawn === undefined) delete out.respawn
  else out.respawn = respawn
  const source = options.clearEnv ? (env ?? {}) : (env ?? process.env)
  for (const [k, v] of Object.entries(source)) {
    if (v === undefined || k.startsWith(ENV_PREFIX) || k === 'NOTIFY_SOCKET' || isListenVar(k)) continue
    out.env[k] = encodeBytes(v)
  }
  for (const k of Object.keys(out) as (keyof SavedOptions)[]) if (out[k] === undefined) delete out[k]
  return out
}

/** A unix socket's path taken from the caller's cwd, as the launch takes it. */
function absoluteListenSpec(text: string): string {
  const { formatListenSpec, parseListenSpec } = listenGiven()
  const spec = parseListenSpec(text)
  return spec.kind === 'unix' ? formatListenSpec({ ...spec, path: resolve(spec.path) }) : text
}

/** Saved options back to DaemonizeOptions: bytes as Buffers again. */
function decodeOptions(o: unknown, path: string): DaemonizeOptions {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw invalid(path, 'options is not an object')
  const saved = o as Record<string, unknown>
  if (typeof saved.entry !== 'string') throw invalid(path, 'options.entry is not a string')
  if (!Array.isArray(saved.args)) throw invalid(path, 'options.args is not an array')
  if (saved.env === null || typeof saved.env !== 'object' || Array.isArray(saved.env)) throw invalid(path, 'options.env is not an object')
  const out: Record<string, unknown> = {}
  // Only the options there are: nothing else in the file reaches daemonize(), which checks every value again.
  for (const k of OPTION_KEYS) if (Object.hasOwn(saved, k) && saved[k] !== undefined) out[k] = saved[k]
  out.args = saved.args.map((a, i) => decodeBytes(a, `options.args[${i}]`, path))
  const env: Record<string, string | Buffer> = {}
  for (const [k, v] of Object.entries(saved.env as Record<string, unknown>)) env[k] = decodeBytes(v, `options.env.${k}`, path)
  out.env = env
  return out as unknown as DaemonizeOptions
}

const OPTION_KEYS = [
  'name',
  'entry',
  'execArgv',
  'execPath',
  'clearEnv',
  'cwd',
  'umask',
  'logFile',
  'pidFile',
  'waitReadyMs',
  'startupGraceMs',
  'keepOnTimeout',
  'preload',
  'user',
  'group',
  'coreDumps',
  'maxOpenFiles',
  'respawn',
  'instances',
  'maxMemoryBytes',
  'listen',
  'listenInherited',
] as const satisfies readonly (keyof DaemonizeOptions)[]

/**
 * Write the spec of `name` atomically: a temp file beside it (O_EXCL,
 * O_NOFOLLOW, 0600), written, fsync'd, renamed over the old one, then the
 * directory fsync'd. The directory must have been made safe (ensureDir).
 */
export function saveSpec(dirs: NameDirs, name: string, options: DaemonizeOptions): string {
  const path = specPathOf(dirs, name)
  const spec: SavedSpec = {
    format: SPEC_FORMAT,
    version: SPEC_VERSION,
    name,
    uid: euid(),
    savedAt: new Date().toISOString(),
    options: resolvedSpecOptions({ ...options, name }),
  }
  writeAtomically(path, Buffer.from(`${JSON.stringify(spec, null, 2)}\n`))
  return path
}

function writeAtomically(path: string, data: Buffer): void {
  // node:crypto only here: imported at the top, it cost every CLI start (named or not) its load.
  const { randomBytes } = process.getBuiltinModule('node:crypto')
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  let fd: number
  try {
    fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600)
  } catch (err) {
    throw stageError('spec', `cannot write spec ${path}`, err, path)
  }
  try {
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off)
    fsyncSync(fd)
    closeSync(fd)
    fd = -1
    renameSync(tmp, path)
  } catch (err) {
    if (fd >= 0) closeSync(fd)
    try {
      unlinkSync(tmp)
    } catch {
      // never created, or already renamed
    }
    throw stageError('spec', `cannot write spec ${path}`, err, path)
  }
  // The rename itself survives a crash only once the directory is on disk.
  try {
    const dfd = openSync(dirname(path), fsc.O_RDONLY | fsc.O_DIRECTORY)
    try {
      fsyncSync(dfd)
    } finally {
      closeSync(dfd)
    }
  } catch {
    // some file systems refuse fsync on a directory; the data is written
  }
}

/**
 * Read and check one spec file: opened O_RDONLY|O_NOFOLLOW|O_NONBLOCK (a
 * symlink or FIFO planted there gets nowhere), a regular file with one link,
 * owned by this euid and writable by nobody else, at most MAX_SPEC_BYTES.
 * undefined when there is none.
 */
export function readSpecFile(path: string): SavedSpec | undefined {
  // Opened, checked and read in one addon call (files/checks.ts readUntrusted).
  const file = readUntrusted(path, 'spec', 'spec', MAX_SPEC_BYTES)
  if (file === undefined) return undefined
  const { st, data } = file
  checkFileShape(st, path, 'spec', 'spec')
  // A spec runs as its owner: root never runs one anyone else wrote, and U's runs only as U.
  checkOwner(st, path, 'spec', 'spec', [euid()])
  if ((st.mode & 0o022) !== 0) {
    throw new DaemonizeError(`spec ${path} is writable by group or others; refusing it`, { stage: 'spec', code: 'EPERM', path })
  }
  if (data === undefined) throw invalid(path, 'it is not a regular file')
  if (data.length > MAX_SPEC_BYTES) throw invalid(path, `it is larger than ${MAX_SPEC_BYTES} bytes`)
  const text = data.toString('utf8')
  let spec: unknown
  try {
    spec = JSON.parse(text)
  } catch (err) {
    throw invalid(path, (err as Error).message)
  }
  const s = spec as Partial<SavedSpec> | null
  if (s === null || typeof s !== 'object' || s.format !== SPEC_FORMAT) throw invalid(path, `no "format": "${SPEC_FORMAT}"`)
  if (s.version !== SPEC_VERSION) throw invalid(path, `version ${String(s.version)} is not ${SPEC_VERSION}`)
  if (s.uid !== euid()) {
    throw new DaemonizeError(`spec ${path} was written for uid ${String(s.uid)}, not ${euid()}; refusing it (a spec runs only as the user who wrote it)`, {
      stage: 'spec',
      code: 'EPERM',
      path,
    })
  }
  return s as SavedSpec
}

/** A spec file's content, checked and decoded. */
function loaded(spec: SavedSpec, name: string, specPath: string): LoadedSpec {
  if (spec.name !== name) throw invalid(specPath, `it names ${JSON.stringify(spec.name)}, not ${JSON.stringify(name)}`)
  const options = decodeOptions(spec.options, specPath)
  options.name = name
  return { name, options, specPath, uid: spec.uid, savedAt: String(spec.savedAt) }
}

/** The spec of `name` in `dirs`, or undefined when there is none. The directory must be safe (checkDir). */
export function findSpec(name: string, dirs: NameDirs = nameDirs()): LoadedSpec | undefined {
  checkName(name)
  if (!checkDir(dirs.specs, 'spec')) return undefined
  const specPath = specPathOf(dirs, name)
  const spec = readSpecFile(specPath)
  return spec === undefined ? undefined : loaded(spec, name, specPath)
}

/**
 * The saved start spec of the named daemon, for this user (root: the
 * system's): its options as resolved at the last start or restart, ready to
 * pass to daemonize(). Rejects with a DaemonizeError (stage 'name' for a
 * bad name, 'spec' for no spec, code ENOENT, or one that cannot be trusted).
 */
export async function loadSpecByName(name: string): Promise<LoadedSpec> {
  const spec = findSpec(name)
  if (spec === undefined) throw noSuchName(name)
  return spec
}

export function noSuchName(name: string, dirs: NameDirs = nameDirs()): DaemonizeError {
  const path = specPathOf(dirs, name)
  return new DaemonizeError(`no daemon named ${name} (no spec ${path}; start one with start --name ${name})`, { stage: 'spec', code: 'ENOENT', path })
}

/** Every spec of this user (root: the system's), by name; each entry the spec or why it cannot be used. */
export function listSpecs(dirs: NameDirs = nameDirs()): { name: string; spec?: LoadedSpec; error?: DaemonizeError }[] {
  if (!checkDir(dirs.specs, 'spec')) return []
  const out: { name: string; spec?: LoadedSpec; error?: DaemonizeError }[] = []
  for (const file of readdirSync(dirs.specs).sort()) {
    const name = nameOfSpecFile(file)
    if (name === undefined) continue
    try {
      const s = readSpecFile(specPathOf(dirs, name))
      if (s !== undefined) out.push({ name, spec: loaded(s, name, specPathOf(dirs, name)) })
    } catch (err) {
      out.push({ name, error: err instanceof DaemonizeError ? err : stageError('spec', `cannot read spec of ${name}`, err) })
    }
  }
  return out
}

/** The named daemon whose pid file is `pidFile` (explicit or default), found through the specs; undefined when none. */
export function findSpecByPidFile(pidFile: string, dirs: NameDirs = nameDirs()): LoadedSpec | undefined {
  const wanted = resolve(pidFile)
  return listSpecs(dirs).find((e) => e.spec?.options.pidFile === wanted)?.spec
}
