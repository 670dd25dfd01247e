// From the helper's failure record to a DaemonizeError a person can act on.
import { closeSync, constants as fsc, fstatSync, openSync, readSync } from 'node:fs'
import { DaemonizeError, errnoFields } from '../errors.js'
import { escapeControls } from '../escape.js'
import { native } from '../native.js'
import { isNativeStage, type NativeStage } from '../protocol.js'
import { signalName } from '../signals.js'
import type { Launch } from '../options/resolve.js'
import type { StatusRecord } from './records.js'

export { escapeControls } from '../escape.js'

const TAIL_LINES = 20
/** At most this much of the log is read, from its end: the tail costs the same at any log size. */
export const TAIL_WINDOW = 64 * 1024

/**
 * The last lines of the log, for an error about a daemon that died, read
 * through the log fd the launch opened (`logFd`, write-only) and never by
 * path: the service user may own the log's directory, and a daemon that
 * crashes can first put a symbolic link to a root-only file or a FIFO where
 * its log was. /proc/self/fd/N re-opens the very file that fd has open (the
 * link is not looked up by name), read-only; it must be the same regular
 * file, and only the last TAIL_WINDOW bytes are read, with pread.
 */
export function logTail(logFd: number | undefined, lines = TAIL_LINES): string | undefined {
  if (logFd === undefined || logFd < 0) return undefined
  let fd: number
  try {
    fd = openSync(`/proc/self/fd/${logFd}`, fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY)
  } catch {
    return undefined // no /proc, or no fd left: the error goes without its tail
  }
  try {
    const opened = fstatSync(logFd)
    const st = fstatSync(fd)
    if (!st.isFile() || st.dev !== opened.dev || st.ino !== opened.ino) return undefined
    const want = Math.min(st.size, TAIL_WINDOW)
    const from = st.size - want
    const buf = Buffer.alloc(want)
    let got = 0
    while (got < want) {
      const n = readSync(fd, buf, got, want - got, from + got)
      if (n === 0) break // truncated meanwhile
      got += n
    }
    return lastLines(buf.subarray(0, got), from > 0, lines)
  } catch {
    return undefined
  } finally {
    closeSync(fd)
  }
}

/** The last `count` lines of `buf`; when it starts mid-file, its first (partial) line is dropped. */
function lastLines(buf: Buffer, startsMidFile: boolean, count: number): string | undefined {
  let text = buf
  if (startsMidFile) {
    const nl = buf.indexOf(0x0a)
    // One line longer than the window: show its end rather than nothing.
    if (nl !== -1 && nl < buf.length - 1) text = buf.subarray(nl + 1)
  }
  const all = text.toString('utf8').split('\n')
  if (all[all.length - 1] === '') all.pop()
  // Each line escaped: the service user wrote these bytes, and a terminal
  // would obey its control sequences (erase the real error, print a fake line).
  // Escaping can lengthen it (up to 6x): keep the bound on what is shown.
  const tail = all.slice(-count).map(escapeControls).join('\n').slice(-TAIL_WINDOW)
  return tail === '' ? undefined : tail
}

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
 * Turn the first failed record into a DaemonizeError. `logFd` is the launch's
 * open log fd (still open): the tail is read through it.
 */
export function failure(r: StatusRecord, launch: Launch, daemonPid: number | undefined, logFd?: number): DaemonizeError {
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
    const tail = launch.logFile === undefined ? undefined : logTail(logFd)
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
    const tail = launch.logFile === undefined ? undefined : logTail(logFd)
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
