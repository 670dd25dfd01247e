// `node-daemonize unit [start options] <entry> [-- args...]`: the systemd
// units that run <entry> with the same settings under systemd itself,
// printed, or written with --install. The options are start's own parser's
// (start.ts), plus the few of this command.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { checkName } from '../names/paths.js'
import type { DaemonizeOptions } from '../options/daemonize-options.js'
import { findSpec, type LoadedSpec, noSuchName } from '../names/spec.js'
import { installFiles } from '../systemd/install.js'
import { buildUnits, type UnitRequest, type Units } from '../systemd/units.js'
import { detectSystemdVersion } from '../systemd/version.js'
import { EXIT_OK, parsePositiveInt, printOut, shellWord, UsageError } from './args.js'
import { respawnUsage } from './respawn-args.js'
import { parseStartCommandLine, type StartRequest, startOptionsText } from './start.js'

/** Where --install writes by default. */
export const SYSTEM_UNIT_DIR = '/etc/systemd/system'

const unitOptions = {
  install: { type: 'boolean' },
  'unit-dir': { type: 'string' },
  'unit-name': { type: 'string' },
  'systemd-version': { type: 'string' },
} as const

interface UnitValues {
  install?: boolean
  'unit-dir'?: string
  'unit-name'?: string
  'systemd-version'?: string
}

export const usage = `Usage: node-daemonize unit NAME [options of unit]
       node-daemonize unit <entry> [start options] [-- args...]

Print a systemd service unit that runs the daemon NAME (from the spec that
'start --name NAME' saved), or <entry>, with the same settings as
'node-daemonize start' would, under systemd itself:
Type=notify with --wait-ready (ready() then notifies systemd), else
Type=exec; User=, Group=, WorkingDirectory=, UMask=, LimitNOFILE=,
LimitCORE=; Restart=, RestartSec=, StartLimitBurst= from --respawn;
ExecReload= to reopen the log; a .socket unit for --listen; with
--instances N a template, NAME@.service, each instance NAME@i.service
with NODE_DAEMONIZE_INSTANCE=i and the same sockets. The
environment goes to an EnvironmentFile= (mode 0600), never into the
unit: the --env values, or a saved spec's whole environment. What systemd
does differently is said in the unit's comments. Values are quoted for
systemd; a value it cannot carry (not UTF-8, a newline in a path) is
refused. --respawn needs no --pid-file here: systemd supervises.

Options of unit:
  --install               write the files into the unit directory (never
                          over an existing file) and print the systemctl
                          commands that enable and start the service (with
                          --instances N: the socket and NAME@0..N-1.service)
  --unit-dir DIR          where --install writes and the unit looks for its
                          environment file (default ${SYSTEM_UNIT_DIR}; for
                          tests and staging)
  --unit-name NAME        the unit's name (default: the daemon's --name, or
                          the entry's file name without its extension)
  --systemd-version N     the target's systemd version (default: this
                          machine's, from systemctl --version): 254 or later
                          gets RestartSteps=/RestartMaxDelaySec=

Options of start (see 'node-daemonize start --help'):
${startOptionsText}

${respawnUsage}

Exit status: 0 printed (or installed), 1 a file that already exists (or
another failure), 2 invalid arguments, a value systemd cannot carry
among them.`

export interface UnitCommand {
  request: UnitRequest
  install: boolean
  json: boolean
  quiet: boolean
}

/** Command line -> the unit request; throws UsageError, or a DaemonizeError for a spec that cannot be read. */
export function parseUnitArgs(args: string[]): UnitCommand {
  const { request, values } = parseStartCommandLine<UnitValues>(args, unitOptions, { entryOptional: true })
  const saved = savedSpec(request)
  let options: DaemonizeOptions
  if (saved !== undefined) {
    options = { ...saved.options }
  } else {
    if (!request.given.entry) throw new UsageError('missing NAME or <entry>: a daemon started with --name, or the script to run')
    // The unit carries only what was asked for: the --env values, not the
    // environment of the shell this runs in.
    options = { ...request.options, env: Object.fromEntries(request.given.envPairs) }
  }
  delete options.notifySystemd
  const unitDir = values['unit-dir'] ?? SYSTEM_UNIT_DIR
  if (!unitDir.startsWith('/')) throw new UsageError(`--unit-dir must be an absolute path, got '${unitDir}'`)
  const version = values['systemd-version']
  return {
    request: {
      options,
      unitName: values['unit-name'],
      unitDir,
      systemdVersion: version === undefined ? detectSystemdVersion() : parsePositiveInt('--systemd-version', version),
      okIfRunning: request.okIfRunning,
      spec: saved === undefined ? undefined : { name: saved.name, path: saved.specPath },
    },
    install: values.install === true,
    json: request.json,
    quiet: request.quiet,
  }
}

/**
 * `unit NAME`: a lone word, with no start option and no program arguments,
 * that is a daemon's name: its saved start spec. A word that is no name, or
 * names no spec but a file, is an entry.
 */
function savedSpec(req: StartRequest): LoadedSpec | undefined {
  const g = req.given
  if (!g.entry || g.keys.size > 0 || g.args || g.envPairs.length > 0 || g.clearEnv) return undefined
  try {
    checkName(req.entryArg)
  } catch {
    return undefined
  }
  const spec = findSpec(req.entryArg)
  if (spec === undefined && !existsSync(req.entryArg)) throw noSuchName(req.entryArg)
  return spec
}

/** The systemctl commands that enable and start what was installed. */
export function enableCommands(units: Units): string[] {
  return ['systemctl daemon-reload', `systemctl enable --now ${[...units.sockets, ...(units.instances ?? [units.service])].map(shellWord).join(' ')}`]
}

/** --json's `instances`: the instance units of a template (absent without --instances). */
function instancesOf(units: Units): { instances?: string[] } {
  return units.instances ? { instances: units.instances } : {}
}

export async function run(args: string[]): Promise<number> {
  const cmd = parseUnitArgs(args)
  const units = buildUnits(cmd.request)
  const dir = cmd.request.unitDir
  const files = units.files.map((f) => ({ path: join(dir, f.name), mode: f.mode, text: f.text }))
  if (cmd.install) {
    installFiles(dir, units.files)
    const commands = enableCommands(units)
    if (cmd.json) printOut(JSON.stringify({ installed: true, service: units.service, ...instancesOf(units), sockets: units.sockets, files, commands }))
    else if (!cmd.quiet) printOut([`installed ${files.map((f) => f.path).join(', ')}`, ...commands].join('\n'))
    return EXIT_OK
  }
  if (cmd.json) {
    printOut(JSON.stringify({ installed: false, service: units.service, ...instancesOf(units), sockets: units.sockets, files }))
  } else if (files.length === 1) {
    printOut(files[0].text)
  } else {
    // Each file under a line that names it (itself a comment in both syntaxes).
    printOut(files.map((f) => `### ${f.path} (mode ${f.mode.toString(8).padStart(4, '0')})\n${f.text}`).join('\n'))
  }
  return EXIT_OK
}
