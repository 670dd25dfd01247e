// Runs the CLI (bin/node-daemonize.js) in a child process, for tests that
// check its exit status and what it prints.
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { root } from './caller.js'

export const cliBin = join(root, 'bin', 'node-daemonize.js')

export interface CliRun {
  code: number | null
  out: string
  err: string
}

/** Run the CLI; resolves when it exits and its output pipes close (a daemon never holds them). `as`: run it as that user. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  nodeArgs: string[] = [],
  as?: { uid: number; gid: number },
): Promise<CliRun> {
  return collect(spawn(process.execPath, [...nodeArgs, cliBin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], ...as }))
}

/** A child's exit code and all it printed, once it exits and its output pipes close. */
export function collect(child: ChildProcess): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s))
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, out, err }))
  })
}
