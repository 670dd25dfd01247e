// From the helper's failure record to a DaemonizeError a person can act on.
import { DaemonizeError, errnoFields } from '../errors.js'
import { native } from '../native.js'
import { isNativeStage, type NativeStage } from '../protocol.js'
import { signalName } from '../signals.js'
import type { Launch } from '../options/resolve.js'
import type { StatusRecord } from './records.js'

const credentialsProblem: Record<string, string> = {
  getresuid: 'the real/effective/saved uids are not the target\'s',
  getresgid: 'the real/effective/saved gids are not the target\'s',
  getgroups: 'the supplementary groups are not the target user\'s',
  capget: 'capabilities survived the change of user (securebits keep them?)',
  capset: 'cannot clear the inheritable capabilities',
}

type Describe = (r: StatusRecord, launch: Launch) => string

/** What each native stage's failure means, said for a person. Every stage has its line. */
const stageMessages = {
  plan: () => 'the helper could not read its plan',
  setsid: () => 'the helper could not start a new session',
  fork: () => 'the helper could not fork the daemon',
  session: () => 'the daemon is not where it should be: in the helper\'s session, not leading it',
  umask: () => 'cannot set the daemon\'s umask',
  rlimit: () => 'cannot set resource limits',
  setgroups: () => 'cannot drop privileges (setgroups)',
  setgid: () => 'cannot drop privileges (setgid)',
  setuid: () => 'cannot drop privileges (setuid)',
  credentials: (r) =>
    `privileges were not dropped as asked: ${credentialsProblem[r.syscall] ?? 'root could be regained'}`,
  chdir: (_r, launch) => `cannot change directory to ${launch.cwd}`,
  entry: (r, launch) =>
    r.value === 0
      ? `the daemon cannot read its entry ${launch.entry}`
      : `the daemon cannot read ${launch.checks[r.value] ?? 'a file it needs'} (the preload; it runs as another user?)`,
  pidfile: () => 'the helper cannot write the daemon\'s pid into the pid file',
  stdio: () => 'cannot set up the daemon\'s stdio',
  fds: () => 'cannot close inherited fds',
  signals: () => 'cannot reset signals',
  exec: (_r, launch) => `cannot execute ${launch.execPath}`,
  ready: () => 'the helper cannot wait for the daemon to be ready',
  running: () => 'the helper cannot watch the daemon through its start-up',
  supervise: () => 'the helper cannot start the supervisor',
} satisfies Record<NativeStage, Describe>

function pathOf(r: StatusRecord, launch: Launch): string | undefined {
  const stage = r.stage
  if (stage === 'chdir') return launch.cwd
  if (stage === 'entry') return launch.checks[r.value] ?? launch.entry
  if (stage === 'exec') return launch.execPath
  return undefined
}

/**
 * Turn the first failed record into a DaemonizeError. `readTail`: the last
 * lines of the launch's log (logs/tail.ts), asked for only when the error
 * shows them (a daemon that exited or missed its readiness).
 */
export function failure(
  r: StatusRecord,
  launch: Launch,
  daemonPid: number | undefined,
  readTail: () => string | undefined = () => undefined,
): DaemonizeError {
  const c = native().constants
  if (!isNativeStage(r.stage)) {
    return new DaemonizeError(`the helper reported an unknown stage (${r.stage}, protocol error ${r.err})`, {
      stage: 'helper',
      code: 'ERR_DAEMON_PROTOCOL',
      pid: daemonPid,
    })
  }
  const stage = r.stage
  const describe = (rec: StatusRecord) => stageMessages[stage](rec, launch)
  if (r.err > 0) {
    const { errno, code } = errnoFields(r.err)
    return new DaemonizeError(`${describe(r)}: ${r.syscall} ${code}`, {
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
    const tail = launch.logFile === undefined ? undefined : readTail()
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
    const tail = launch.logFile === undefined ? undefined : readTail()
    const fate = launch.keepOnTimeout ? 'left running' : 'killed'
    return new DaemonizeError(
      `the daemon did not call ready() within ${r.value} ms (${fate})` +
        (tail ? `; last lines of ${launch.logFile}:\n${tail}` : ''),
      { stage, code: 'ERR_DAEMON_TIMEOUT', pid: daemonPid, logTail: tail, path: launch.logFile },
    )
  }
  if (r.err === c.ND_EVERIFY) {
    return new DaemonizeError(`${describe(r)} (verification failed, saw ${r.value})`, {
      stage,
      code: 'ERR_DAEMON_VERIFY',
      pid: daemonPid,
    })
  }
  return new DaemonizeError(`${describe(r)} (protocol error ${r.err})`, { stage, code: 'ERR_DAEMON_PROTOCOL' })
}
