// Start options -> the systemd units that run the same entry with the same
// settings under systemd itself (no launcher, no supervisor: systemd is
// both). Independent of where the options came from (a command line, a
// saved start spec). Every setting is either mapped to its systemd
// directive or said in a comment of the unit; none is silently dropped.
import { existsSync } from 'node:fs'
import { basename, extname, join } from 'node:path'
import { CONTRACT, CONTRACT_VERSION, ENV_PREFIX, envName, LOG_FILE } from '../daemon/contract.cjs'
import { optionError } from '../errors.js'
import { euid } from '../files/checks.js'
import { parseListenSpec } from '../options/listen-spec.js'
import { checkName, nameDirs, namePaths } from '../names/paths.js'
import { type DaemonizeOptions, SAFE_PATH } from '../options/daemonize-options.js'
import { resolveInstances } from '../options/instances.js'
import { resolveLaunch } from '../options/resolve.js'
import { resolveRespawn } from '../options/respawn.js'
import { checkAccount } from '../options/user.js'
import { ENV_NAME, environmentWord, envFileLine, execWord, label, shown, timeSpan, verbatim } from './quote.js'
import type { UnitFile } from './install.js'
import { instanceLines, instanceUnits } from './instances.js'
import { socketUnits } from './sockets.js'
import { respawnLines } from './restart.js'

export interface UnitRequest {
  /**
   * The start options (respawn, name and listen included). `env` holds only
   * the variables to set: nothing is inherited from this process.
   */
  options: DaemonizeOptions
  /** The unit's name, without `.service`. Default: the options' name, or the entry's file name without its extension. */
  unitName?: string
  /** The target's systemd version; undefined: unknown (newer directives then go in comments). */
  systemdVersion?: number
  /** Where the units (and the environment file) go: the unit names the environment file by this path. */
  unitDir: string
  /** start's --ok-if-running, for its comment. */
  okIfRunning?: boolean
  /** The saved start spec the options came from (`unit NAME`), for the comments. */
  spec?: { name: string; path: string }
}

export interface Units {
  /** The service's unit name, with `.service` (with --instances: the template, NAME@.service). */
  service: string
  /** With --instances N: the units to enable, NAME@0.service .. NAME@N-1.service. */
  instances?: string[]
  /** The .socket units, when listening. */
  sockets: string[]
  files: UnitFile[]
}

/** Characters systemd allows in a unit name (systemd.unit(5)); others become '-'. */
const UNIT_NAME = /^[A-Za-z0-9:_.\\-]+$/
/** A unit name's maximum length (UNIT_NAME_MAX), suffix included. */
const UNIT_NAME_MAX = 255

/** The default unit name: the service's name, or the entry's file name without its extension. */
function unitBaseName(req: UnitRequest): string {
  if (req.unitName !== undefined) {
    let n = req.unitName.endsWith('.service') ? req.unitName.slice(0, -'.service'.length) : req.unitName
    // With --instances the unit is a template: NAME@ (NAME@.service) names it as well as NAME.
    const template = req.options.instances !== undefined
    if (template && n.endsWith('@')) n = n.slice(0, -1)
    // An instance's name is the longest: NAME@63.service.
    if (!UNIT_NAME.test(n) || n.startsWith('-') || n.length + (template ? '@63' : '').length + '.service'.length > UNIT_NAME_MAX) {
      throw optionError(`unit name ${shown(req.unitName)}: systemd takes letters, digits and : _ . \\ - (not starting with -), at most 255 with .service`)
    }
    return n
  }
  const from = req.options.name ?? basename(req.options.entry, extname(req.options.entry))
  const n = from.replace(/[^A-Za-z0-9:_.-]+/g, '-').replace(/^[-.]+/, '').slice(0, UNIT_NAME_MAX - 16)
  if (n === '') throw optionError(`cannot make a unit name from ${shown(from)}: give one with --unit-name`)
  return n
}

/** The systemd directive's form of an id: a number, or a name as systemd's relaxed check accepts. */
function account(what: string, v: string | number): string {
  if (typeof v === 'number' || /^\d+$/.test(v)) return String(v)
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.@-]*\$?$/.test(v) || v.length > 256) {
    throw optionError(`${what} ${shown(v)} is not a name systemd accepts in ${what === 'user' ? 'User' : 'Group'}=`)
  }
  return v
}

/** systemd reads a unit file line of at most 1 MiB (LONG_LINE_MAX) and refuses the unit past it. */
const LONG_LINE_MAX = 1024 * 1024

function checkLineLength(text: string): void {
  for (const line of text.split('\n')) {
    const bytes = Buffer.byteLength(line)
    if (bytes >= LONG_LINE_MAX) {
      throw optionError(`${line.slice(0, line.indexOf('='))}= would be ${bytes} bytes long: systemd reads unit file lines of less than 1 MiB`)
    }
  }
}

/**
 * A named daemon's default log (start --name puts it in the standard log
 * directory), when no log file was given. The directory is made by a start
 * --name; systemd does not make it.
 */
function namedLog(o: DaemonizeOptions, uid: number | undefined, note: (t: string) => void): string | undefined {
  if (o.name === undefined || o.logFile !== undefined) return undefined
  const name = checkName(o.name)
  const log = namePaths(nameDirs(), name, uid !== undefined && uid !== euid()).logFile
  note(`--name ${name} without --log-file: start's default log, ${shown(log)}; its directory must exist (a start --name makes it)`)
  return log
}

/** What the argv word `fromEnd` places before the end is, in the user's terms. */
function argvName(fromEnd: number, args: number, index: number): string {
  if (index === 0) return 'the program'
  if (fromEnd < args) return `argument ${args - fromEnd}`
  if (fromEnd === args) return 'the entry'
  return 'a Node.js option'
}

/** The first kill(1) on this system, for ExecReload=. */
function killBinary(): string | undefined {
  return ['/bin/kill', '/usr/bin/kill'].find((p) => existsSync(p))
}

/** The service unit, the .socket units and the environment file for `req`. */
export function buildUnits(req: UnitRequest): Units {
  const o = req.options
  const base = unitBaseName(req)
  // The launch's own checks (entry, cwd, durations, preload) and
  // its argv with every path resolved; the environment and the accounts are
  // checked here, for systemd, not as this caller would run them, and the
  // respawn policy on its own (systemd supervises: no pid file is needed).
  const launch = resolveLaunch({ ...o, env: {}, clearEnv: true, user: undefined, group: undefined, respawn: undefined, instances: undefined })
  const respawn = resolveRespawn(o.respawn)
  // --instances: a template run as NAME@0..N-1 (instances.ts), with start's own checks (it needs --respawn).
  const count = resolveInstances(o.instances, respawn !== undefined)
  const inst = count === undefined ? undefined : instanceUnits(base, count)
  const service = inst?.template ?? `${base}.service`
  const uid = checkAccount(o.user, o.group)
  const notes: string[] = []
  const note = (text: string) => notes.push(`# ${text}`)
  const logFile = launch.logFile ?? namedLog(o, uid, note)
  const listen = (o.listen ?? []).map((text) => parseListenSpec(text))
  const sockets = socketUnits(base, inst?.activated ?? service, listen, { user: o.user, group: o.group, umask: launch.umask }, service)

  const unit: string[] = []
  const svc: string[] = []

  unit.push(`Description=node-daemonize ${label(o.name ?? launch.entry)}${inst ? ' instance %i' : ''}`)
  if (sockets.files.length > 0) {
    const names = sockets.files.map((f) => f.name).join(' ')
    unit.push(`Requires=${names}`, `After=${names}`)
  }

  if (launch.waitReady) {
    svc.push('Type=notify', `TimeoutStartSec=${timeSpan(launch.windowMs)}`)
    note(`--wait-ready: Type=notify; ready() sends READY=1 to $NOTIFY_SOCKET when systemd runs the daemon itself`)
    if (launch.keepOnTimeout) {
      note('--keep-on-timeout: systemd has no such setting: when TimeoutStartSec= runs out it stops the service')
    }
  } else {
    svc.push('Type=exec')
    if (o.startupGraceMs) {
      note(
        `--startup-grace ${timeSpan(o.startupGraceMs)}: systemd has no start-up grace: with Type=exec, "systemctl start" ` +
          'returns once the program has been executed; a crash after that shows in "systemctl status"',
      )
    }
  }

  svc.push(`ExecStart=${launch.argv.map((a, i) => execWord(argvName(launch.argv.length - i - 1, o.args?.length ?? 0, i), a)).join(' ')}`)
  svc.push(`WorkingDirectory=${verbatim('the working directory', launch.cwd)}`)
  svc.push(`UMask=${launch.umask.toString(8).padStart(4, '0')}`)
  if (o.user !== undefined) svc.push(`User=${account('user', o.user)}`)
  if (o.group !== undefined) svc.push(`Group=${account('group', o.group)}`)
  if (launch.maxOpenFiles !== undefined) svc.push(`LimitNOFILE=${launch.maxOpenFiles}`)
  svc.push(`LimitCORE=${launch.coreDumps ? 'infinity' : '0'}`)
  if (launch.coreDumps) note('--core-dumps: LimitCORE=infinity (start keeps its caller\'s limit; under systemd that is DefaultLimitCORE=)')

  const env = environment(o, req.spec, svc, note)
  const envFile = env.length > 0 ? { name: `${base}.env`, text: env.join(''), mode: 0o600 } : undefined
  if (envFile) svc.push(`EnvironmentFile=${verbatim('the environment file', join(req.unitDir, envFile.name))}`)

  if (logFile !== undefined) {
    const log = verbatim('the log file', logFile)
    svc.push(`StandardOutput=append:${log}`, `StandardError=append:${log}`)
    // What the preload needs to reopen the log on SIGHUP.
    svc.push(`Environment=${environmentWord(envName(LOG_FILE), logFile)} ${environmentWord(envName(CONTRACT), CONTRACT_VERSION)}`)
    note('--log-file: systemd opens the file (appending, creating it as root) before User= applies; start creates it 0640 for the user')
    const kill = killBinary()
    if (o.preload === false) {
      note('--no-preload: no ExecReload=: nothing reopens the log on SIGHUP unless the program calls reopenLogs() itself')
    } else if (kill === undefined) {
      note('no kill(1) found for ExecReload=: add "ExecReload=kill -HUP $MAINPID" to reopen the log on reload')
    } else {
      svc.push(`ExecReload=${kill} -HUP $MAINPID`)
      note('reload: "systemctl reload" sends SIGHUP, and the preload reopens the log (logrotate: postrotate systemctl reload)')
    }
  } else {
    svc.push('StandardOutput=null', 'StandardError=null')
    note('no --log-file: stdout and stderr go to /dev/null as with start; delete both lines to keep them in the journal')
  }

  if (inst && o.instances !== undefined) {
    instanceLines(inst, { instances: o.instances, sockets: sockets.files.map((f) => f.name), contractSet: logFile !== undefined }, svc, note)
  }

  const timeout = respawn?.stopTimeoutMs ?? 10_000
  svc.push(`TimeoutStopSec=${timeSpan(timeout)}`)
  note(
    `stop: SIGTERM, then SIGKILL after ${timeSpan(timeout)}; systemd signals every process of the service (KillMode=control-group), ` +
      'node-daemonize stop signals the process its pid file names',
  )
  respawnLines(respawn, req.systemdVersion, unit, svc, note)

  if (o.pidFile !== undefined) {
    note(`--pid-file ${shown(o.pidFile)}: not written: systemd knows the service's main process itself ("systemctl status", "systemctl show -p MainPID")`)
  }
  if (o.name !== undefined) {
    note(`--name ${o.name}: node-daemonize stop/status/list/logs by name do not see a service systemd runs: use systemctl and journalctl`)
  }
  if (o.listenInherited) {
    note('--listen-inherited: the sockets node-daemonize itself was started with are not passed: give their socket units Service= this service instead')
  }
  if (req.okIfRunning) note('--ok-if-running: "systemctl start" of a running service already succeeds')
  if (o.notifySystemd) note('notifySystemd: not needed: the program is systemd\'s own main process')
  notes.push(...sockets.notes)

  const header = [
    `# ${service}: made by node-daemonize unit${req.spec === undefined ? '' : ` from the saved spec ${shown(req.spec.path)}`}.`,
    '# Settings systemd expresses differently (or not at all):',
    ...notes,
  ]
  const text = [
    ...header,
    '',
    '[Unit]',
    ...unit,
    '',
    '[Service]',
    ...svc,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n')

  checkLineLength(text)
  const files: UnitFile[] = [{ name: service, text, mode: 0o644 }, ...sockets.files]
  if (envFile) files.push(envFile)
  return { service, ...(inst ? { instances: inst.names } : {}), sockets: sockets.files.map((f) => f.name), files }
}

/**
 * The environment file's lines; says in a comment what systemd does with
 * the rest of the environment.
 */
function environment(
  o: DaemonizeOptions,
  spec: UnitRequest['spec'],
  svc: string[],
  note: (t: string) => void,
): string[] {
  const given = o.env ?? {}
  if (given === null || typeof given !== 'object' || Array.isArray(given)) throw optionError('env must be an object of strings')
  const lines: string[] = []
  if (o.clearEnv) {
    svc.push(`Environment=${environmentWord('PATH', SAFE_PATH)}`)
    note('--clear-env: systemd starts every service with an environment of its own (PATH, LANG, and with User= HOME, USER, LOGNAME, SHELL); PATH as with start')
  } else if (spec !== undefined) {
    note(`environment: the saved spec's variables (the environment ${spec.name} was started with), in EnvironmentFile=, mode 0600`)
  } else {
    note('environment: only the --env variables (in EnvironmentFile=, mode 0600); the environment of the shell that made this unit, which start would pass on, is not copied')
  }
  const unnamed: string[] = []
  for (const [k, v] of Object.entries(given)) {
    if (v === undefined) continue
    if (k.startsWith(ENV_PREFIX) || k === 'NOTIFY_SOCKET') {
      // As start does: these are the launcher's (and systemd's) to set.
      note(`variable ${shown(k)}: left out, as start leaves it out (set by node-daemonize or by systemd)`)
      continue
    }
    // A saved environment may hold what a shell exports but systemd never
    // passes on (BASH_FUNC_f%%): said, not refused; a name given with --env is refused.
    if (spec !== undefined && !ENV_NAME.test(k)) unnamed.push(shown(k))
    else lines.push(envFileLine(k, v))
  }
  if (unnamed.length > 0) {
    note(`the saved spec's ${unnamed.join(', ')}: left out: systemd passes on only names of letters, digits and '_' (not starting with a digit)`)
  }
  return lines
}
