// A log line made readable for a terminal: the JSON lines of the launcher,
// the supervisor and logger() (pino's shape: level, time, msg) as
// "time level name: message key=value", anything else as it is. The
// service user writes that log, so every field of a record (level, message,
// keys, values) and every other line comes out through escapeControls: a
// line cannot move the cursor, retitle or clear the window, overwrite
// itself, reorder itself or forge another line; one line of the log is one
// line on the screen. A terminal gets at most TERMINAL_LINE bytes of a line:
// a longer one is shown by its end, after a marker that says how much of its
// start is cut.
import { escapeControls } from '../escape.js'
import { type Cut, LineCutter } from './line-cutter.js'

/** What a terminal shows of one line of the log, at most, in bytes of the log (escaped, each is at most 4 bytes of output). */
export const TERMINAL_LINE = 64 * 1024

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
const COLOURS: Record<string, string> = { TRACE: '90', DEBUG: '90', INFO: '32', WARN: '33', ERROR: '31', FATAL: '1;31' }
/** Fields every line carries, or that the line itself shows: not repeated as key=value. */
const SHOWN = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname', 'v'])

function levelName(level: unknown): string | undefined {
  if (typeof level === 'number') return LEVELS[level] ?? `L${level}`
  if (typeof level === 'string' && level !== '') return level.toUpperCase()
  return undefined
}

/** Local time as YYYY-MM-DD HH:MM:SS.mmm. */
function timeText(time: unknown): string | undefined {
  if (typeof time !== 'number' && typeof time !== 'string') return undefined
  const d = new Date(time)
  if (Number.isNaN(d.getTime())) return undefined
  const p = (n: number, w = 2) => String(n).padStart(w, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`
}

/**
 * One line of the log (without its newline) for a terminal. A JSON object
 * with a level and a time is shown as time, level, message and its other
 * fields; anything else as it is. Control characters come out escaped.
 */
export function formatLogLine(line: string, colour: boolean): string {
  const record = parseRecord(line)
  if (record === undefined) return escapeControls(line)
  // A string level is the log's text too (a number is shown as our name for it).
  const level = escapeControls(levelName(record.level) as string)
  // Our own digits, whatever the record's time was.
  const time = timeText(record.time) as string
  const extra = Object.entries(record)
    .filter(([k]) => !SHOWN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
  const msg = typeof record.msg === 'string' ? record.msg : record.msg === undefined ? '' : JSON.stringify(record.msg)
  const levelShown = level.padEnd(5)
  const coloured = colour ? `\x1b[${Object.hasOwn(COLOURS, level) ? COLOURS[level] : '0'}m${levelShown}\x1b[0m` : levelShown
  // pino's `name` says who wrote the line (the launcher's: node-daemonize).
  const who = typeof record.name === 'string' && record.name !== '' ? `${record.name}: ` : ''
  const text = who + [msg, ...extra].filter((s) => s !== '').join(' ')
  // The escaping applies to what came from the log, not to our own colour codes.
  // Keys and values are escaped with the rest: a key can hold controls too.
  return `${colour ? `\x1b[2m${time}\x1b[0m` : time} ${coloured} ${escapeControls(text)}`
}

function parseRecord(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch {
    return undefined
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined
  const r = v as Record<string, unknown>
  if (levelName(r.level) === undefined || timeText(r.time) === undefined) return undefined
  return r
}

/** Colour on a terminal that has it: not with NO_COLOR, nor on TERM=dumb. */
export function terminalHasColour(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  return env.TERM !== undefined && env.TERM !== '' && env.TERM !== 'dumb'
}

/** A line cut at its start: the marker (ours, dim in colour), then the end of the line, escaped and never parsed. */
function cutLine(bytes: Buffer, cut: Cut, colour: boolean): string {
  const marker = `[${cut.atLeast ? '≥ ' : ''}${cut.bytes} byte${cut.bytes === 1 ? '' : 's'} cut]`
  return `${colour ? `\x1b[2m${marker}\x1b[0m` : marker} ${escapeControls(bytes.toString('utf8'))}`
}

export interface TerminalOutput {
  /** The bytes to come start in the middle of a line (its start was not read). */
  startsCut(): void
  write(bytes: Buffer): void
  end(): void
}

/**
 * The log's bytes shown on a terminal through `print` (one or more lines,
 * no final newline): whole lines, each made readable; a line still being
 * written waits for its newline (or the end). Linear in what is written,
 * and it holds at most TERMINAL_LINE bytes of a line.
 */
export function terminalOutput(colour: boolean, print: (text: string) => void): TerminalOutput {
  let shown: string[] = []
  const cutter = new LineCutter(TERMINAL_LINE, (bytes, cut) => {
    // A cut line has lost its start: never parsed as a record.
    shown.push(cut === undefined ? formatLogLine(bytes.toString('utf8'), colour) : cutLine(bytes, cut, colour))
  })
  const flush = () => {
    if (shown.length === 0) return
    const text = shown.join('\n')
    shown = []
    print(text)
  }
  return {
    startsCut: () => cutter.startsCut(),
    write(bytes) {
      cutter.write(bytes)
      flush()
    },
    end() {
      cutter.end()
      flush()
    },
  }
}
