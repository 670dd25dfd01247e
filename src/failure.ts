// From the helper's failure record to a DaemonizeError a person can act on.
import { readFileSync } from 'node:fs'
import { DaemonizeError, errnoFields, type Stage } from './errors.js'
import { native } from './native.js'
import { signalName } from './signals.js'
import type { Launch } from './options.js'
import type { StatusRecord } from './status.js'


const TAIL_LINES = 20

/** The last lines of the log, for an error about a daemon that died. */
export function logTail(path: string | undefined, lines = TAIL_LINES): string | undefined {
  if (path === undefined) return undefined
  try {
    const text = readFileSync(path, 'utf8')
    const all = text.split('\n')
    if (all[all.length - 1] === '') all.pop()
    return all.slice(-lines).join('\n')
  } catch {
    return undefined
  }
}

const credentialsProblem: Record<string, string> = {
  getresuid: 'the real/effective/saved uids are not the target\'s',
  getresgid: 'the real/effective/saved gids are not the target\'s',
  getgroups: 'the supplementary groups are not the target user\'s',
  capget: 'capabilities survived the change of user (securebits keep them?)',
  capset: 'cannot clear the inheritable capabilities',
}

function describe(r: StatusRecord, launch: Launch): string {
  switch (r.stage) {
    case 'plan':
      return 'the helper could not read its plan'
    case 'setsid':
      return 'the helper could not start a new session'
    case 'fork':
      return 'the helper could not fork the daemon'
    case 'session':
      return 'the daemon is not where it should be: in the helper\'s session, not leading it'
    case 'rlimit':
      return 'cannot set resource limits'
    case 'setgroups':
    case 'setgid':
    case 'setuid':
      return `cannot drop privileges (${r.stage})`
    case 'credentials':
      return `privileges were not dropped as asked: ${credentialsProblem[r.syscall] ?? 'root could be regained'}`
    case 'chdir':
      return `cannot change directory to ${launch.cwd}`
    case 'entry':
      return r.value === 0
        ? `the daemon cannot read its entry ${launch.entry}`
        : `the daemon cannot read ${launch.checks[r.value] ?? 'a file it needs'} (the preload; it runs as another user?)`
    case 'pidfile':
      return 'the daemon cannot write its pid file'
    case 'stdio':
      return 'cannot set up the daemon\'s stdio'
    case 'fds':
      return 'cannot close inherited fds'
    case 'signals':
      return 'cannot reset signals'
    case 'exec':
      return `cannot execute ${launch.execPath}`
    default:
      return `stage ${r.stage} failed`
  }
}

function pathOf(r: StatusRecord, launch: Launch): string | undefined {
  const stage = r.stage
  if (stage === 'chdir') return launch.cwd
  if (stage === 'entry') return launch.checks[r.value] ?? launch.entry
  if (stage === 'exec') return launch.execPath
  return undefined
}

/** Turn the first failed record into a DaemonizeError. */
export function failure(r: StatusRecord, launch: Launch, daemonPid: number | undefined): DaemonizeError {
  const c = native().constants
  const stage = r.stage as Stage
  if (r.err > 0) {
    const { errno, code } = errnoFields(r.err)
    return new DaemonizeError(`${describe(r, launch)}: ${r.syscall} ${code}`, {
      stage,
      code,
      errno,
      syscall: r.syscall,
      path: pathOf(r, launch),
      pid: daemonPid,
    })
  }
  if (r.err === c.ND_EEXITED) {
    const { code: exitCode, signal: sigNum } = native().decodeWaitStatus(r.value)
    const signal = sigNum === null ? null : (signalName(sigNum) ?? null)
    const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`
    const tail = logTail(launch.logFile)
    const when = stage === 'ready' ? 'before it was ready' : stage === 'running' ? 'during start-up' : 'before exec'
    return new DaemonizeError(
      `the daemon ${how} ${when}` + (tail ? `; last lines of ${launch.logFile}:\n${tail}` : ''),
      { stage, code: 'ERR_DAEMON_EXITED', pid: daemonPid, exitCode, signal, logTail: tail, path: launch.logFile },
    )
  }
  if (r.err === c.ND_ETIMEOUT && stage === 'exec') {
    return new DaemonizeError(`the daemon did not reach exec within ${r.value} ms (killed): a hung chdir, entry or pid file?`, {
      stage,
      code: 'ERR_DAEMON_TIMEOUT',
      pid: daemonPid,
    })
  }
  if (r.err === c.ND_ETIMEOUT) {
    const tail = logTail(launch.logFile)
    const fate = launch.keepOnTimeout ? 'left running' : 'killed'
    return new DaemonizeError(
      `the daemon did not call ready() within ${r.value} ms (${fate})` +
        (tail ? `; last lines of ${launch.logFile}:\n${tail}` : ''),
      { stage, code: 'ERR_DAEMON_TIMEOUT', pid: daemonPid, logTail: tail, path: launch.logFile },
    )
  }
  if (r.err === c.ND_EVERIFY) {
    return new DaemonizeError(`${describe(r, launch)} (verification failed, saw ${r.value})`, {
      stage,
      code: 'ERR_DAEMON_VERIFY',
      pid: daemonPid,
    })
  }
  return new DaemonizeError(`${describe(r, launch)} (protocol error ${r.err})`, { stage, code: 'ERR_DAEMON_PROTOCOL' })
}
