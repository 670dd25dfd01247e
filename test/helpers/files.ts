// Reading a file that a daemon may still be writing: only complete lines
// count. Whatever follows the last newline is a line in the middle of being
// written (a write(2) can land in pieces, and a reader can come between
// them); it is left for a later read, never parsed.
import { readFileSync, statSync } from 'node:fs'
import { until, type UntilOptions } from './wait.js'

/** The whole file as it is now ('' if it does not exist yet). For "nothing was written" checks. */
export function readAll(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return ''
    throw err
  }
}

/** The file up to and including its last newline ('' if it does not exist yet). */
export function completeText(path: string): string {
  const text = readAll(path)
  return text.slice(0, text.lastIndexOf('\n') + 1)
}

/** The file's complete lines, without their newlines. */
export function completeLines(path: string): string[] {
  const text = completeText(path)
  return text === '' ? [] : text.slice(0, -1).split('\n')
}

/** The last few complete lines, for a failure message. */
export function tail(path: string, n = 10): string[] {
  return completeLines(path).slice(-n)
}

/** Wait until a complete line of the file matches, and return that line (the first that does). */
export async function untilLine(
  path: string,
  match: string | RegExp | ((line: string) => boolean),
  options: UntilOptions & { what?: string } = {},
): Promise<string> {
  const test =
    typeof match === 'string' ? (l: string) => l.includes(match) : match instanceof RegExp ? (l: string) => match.test(l) : match
  const what =
    options.what ?? (typeof match === 'function' ? 'a matching line' : `a line with ${typeof match === 'string' ? JSON.stringify(match) : String(match)}`)
  return until(`${what} in ${path}`, () => completeLines(path).find(test), { seen: () => tail(path), ...options })
}

/** The permission bits of a file (with setuid, setgid, sticky). */
export function mode(path: string): number {
  return statSync(path).mode & 0o7777
}
