// The bytes behind process.argv and process.env. Node decodes both as UTF-8
// and puts U+FFFD where the bytes are not UTF-8, so a program argument or an
// environment value in Latin-1 (say) would reach the daemon changed. The
// command line and environment this process was exec'd with are still in
// /proc/self/cmdline and /proc/self/environ: a value is taken from there only
// when it decodes to exactly what Node gave us, so nothing that does not
// match (a changed variable, an unexpected layout) is ever substituted.
import { readFileSync } from 'node:fs'

const REPLACEMENT = '\uFFFD'

function readProc(name: 'cmdline' | 'environ'): Buffer | undefined {
  try {
    return readFileSync(`/proc/self/${name}`)
  } catch {
    return undefined
  }
}

/** NUL-terminated entries (the last one's NUL ends the file). */
function entries(buf: Buffer): Buffer[] {
  const out: Buffer[] = []
  let start = 0
  for (let i = buf.indexOf(0); i !== -1; i = buf.indexOf(0, start)) {
    out.push(buf.subarray(start, i))
    start = i + 1
  }
  if (start < buf.length) out.push(buf.subarray(start))
  return out
}

/**
 * `args` (the end of process.argv) with each argument that was not valid
 * UTF-8 replaced by its bytes. The same length as `args`; unchanged when
 * the raw command line cannot be matched to it.
 */
export function rawArgs(args: string[]): (string | Buffer)[] {
  if (!args.some((a) => a.includes(REPLACEMENT))) return args
  const cmdline = readProc('cmdline')
  if (cmdline === undefined) return args
  const all = entries(cmdline)
  if (all.length < args.length) return args
  const tail = all.slice(all.length - args.length)
  if (tail.some((b, i) => b.toString('utf8') !== args[i])) return args
  return args.map((a, i) => (a.includes(REPLACEMENT) ? tail[i] : a))
}

/**
 * An environment with each inherited value that was not valid UTF-8
 * replaced by its bytes; undefined when there is none.
 */
export function rawEnvironment(env: NodeJS.ProcessEnv): Record<string, string | Buffer | undefined> | undefined {
  if (!Object.values(env).some((v) => v?.includes(REPLACEMENT))) return undefined
  const environ = readProc('environ')
  if (environ === undefined) return undefined
  const out: Record<string, string | Buffer | undefined> = { ...env }
  let changed = false
  for (const entry of entries(environ)) {
    const eq = entry.indexOf(0x3d)
    if (eq <= 0) continue
    const key = entry.subarray(0, eq).toString('utf8')
    const value = entry.subarray(eq + 1)
    const given = env[key]
    if (given !== undefined && given.includes(REPLACEMENT) && value.toString('utf8') === given) {
      out[key] = value
      changed = true
    }
  }
  return changed ? out : undefined
}

/**
 * The value part of `NAME=VALUE` as bytes: from a raw `--env` argument
 * (`NAME=VALUE`, or `--env=NAME=VALUE` when inline), when it was not valid UTF-8.
 */
export function rawEnvValue(raw: string | Buffer, inline: boolean): Buffer | undefined {
  if (typeof raw === 'string') return undefined
  const pair = inline ? raw.subarray(raw.indexOf(0x3d) + 1) : raw
  const eq = pair.indexOf(0x3d)
  return eq <= 0 ? undefined : pair.subarray(eq + 1)
}
