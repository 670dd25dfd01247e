// Which daemon a stop, status or reload is about: `NAME` (its saved spec
// names the pid file) or `--pid-file FILE`, exactly one of them.
import { DaemonizeError } from '../errors.js'
import { checkName, nameDirs } from '../names/paths.js'
import { findSpec, noSuchName, type LoadedSpec } from '../names/spec.js'
import { UsageError } from './args.js'

export interface Target {
  pidFile: string
  /** Given by name: its spec. */
  spec?: LoadedSpec
}

/** How a command names its daemon, for usage lines. */
export const targetUsage = 'NAME | --pid-file FILE'

/** The name given as the command's one positional, checked (a usage error when it is not a valid name). */
export function nameArg(positional: string): string {
  try {
    return checkName(positional)
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

/**
 * NAME or --pid-file FILE, not both, nothing else. A NAME without a spec
 * throws the DaemonizeError noSuchName (stage 'spec', ENOENT), unless
 * `absentOk`: then undefined (status says "not running").
 */
export function resolveTarget(
  values: { 'pid-file'?: string },
  positionals: string[],
  rest: string[],
  absentOk = false,
): Target | { name: string; absent: DaemonizeError } {
  if (rest.length > 0 || positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1] ?? '--'}'`)
  const pidFile = values['pid-file']
  const name = positionals[0]
  if (name !== undefined && pidFile !== undefined) throw new UsageError('give either NAME or --pid-file, not both')
  if (name === undefined) {
    if (pidFile === undefined) throw new UsageError('which daemon? give its NAME or --pid-file FILE')
    if (pidFile === '') throw new UsageError('--pid-file must not be empty')
    return { pidFile }
  }
  const spec = findSpec(nameArg(name))
  if (spec === undefined) {
    const absent = noSuchName(name, nameDirs())
    if (absentOk) return { name, absent }
    throw absent
  }
  if (spec.options.pidFile === undefined) throw new DaemonizeError(`the spec of ${name} names no pid file`, { stage: 'spec', code: 'EINVAL', path: spec.specPath })
  return { pidFile: spec.options.pidFile, spec }
}
