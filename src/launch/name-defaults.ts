// What a name adds to a start, resolved before anything is made: the name
// checked, its standard directories, the default pid file and log. Apart
// from named.ts (the name's lock, the running check, the spec), which a
// start without a name never loads (the CLI's start bundle takes that part
// from dist/cli-lazy-pidfile.cjs only when it is needed).
import { euid } from '../files/checks.js'
import { checkName, nameDirs, namePaths, type NameDirs, type ServiceLog, serviceLogOf } from '../names/paths.js'
import type { DaemonizeOptions } from '../options/daemonize-options.js'
import { type Credentials, resolveCredentials } from '../options/user.js'

/** What a name adds to a start, resolved before anything is made. */
export interface NamedStart {
  name: string
  dirs: NameDirs
  /** The options with the default pid file and log filled in: what runs, and what is saved as the spec. */
  options: DaemonizeOptions
  /** `user` and `group`, resolved (the default log's place depends on them). */
  credentials: Credentials | undefined
  /** Which of the two were given (or saved in a spec), not defaulted. */
  given: { pidFile: boolean; logFile: boolean }
  /** The log is in a service user's own directory (root's standard directories): opened there through a checked fd only. */
  serviceLog?: ServiceLog
}

/**
 * For options with a name: the name checked, its standard directories, and
 * the default pid file and log filled in. Makes nothing. undefined for
 * options without a name.
 */
export function nameDefaults(options: DaemonizeOptions): NamedStart | undefined {
  if (options === null || typeof options !== 'object' || options.name === undefined) return undefined
  const name = checkName(options.name)
  const dirs = nameDirs()
  const credentials = resolveCredentials(options.user, options.group)
  const paths = namePaths(dirs, name, credentials !== undefined && credentials.uid !== euid())
  const resolved: DaemonizeOptions = { ...options, name }
  resolved.pidFile ??= paths.pidFile
  resolved.logFile ??= paths.logFile
  return {
    name,
    dirs,
    options: resolved,
    credentials,
    given: { pidFile: options.pidFile !== undefined, logFile: options.logFile !== undefined },
    serviceLog: serviceLogOf(name, resolved.logFile, dirs, credentials),
  }
}

