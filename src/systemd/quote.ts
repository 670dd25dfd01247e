// Values written into systemd unit files and environment files, each in the
// one form systemd reads back as exactly that value (systemd.syntax(7),
// systemd.service(5) "Command lines", systemd.exec(5) EnvironmentFile=).
// Whatever systemd cannot carry is refused, never altered:
//  - bytes that are not UTF-8 (unit files and environment files must be);
//  - in a setting taken verbatim to the end of its line (paths, names), a
//    control character (a newline or a carriage return would end the line
//    and start a new directive) or leading/trailing white space (trimmed).
// A unit file line ends at '\n' or '\r'; no raw one is ever written.
import { optionError } from '../errors.js'

const decoder = new TextDecoder('utf-8', { fatal: true })
/** A UTF-16 surrogate without its other half: no UTF-8 for it exists. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * The text of a value that must be UTF-8: a Buffer is decoded strictly, a
 * string must be well-formed (no lone surrogate). `what` names it in the error.
 */
export function utf8Text(what: string, v: string | Buffer): string {
  if (typeof v === 'string') {
    if (LONE_SURROGATE.test(v)) throw optionError(`${what} is not valid Unicode (a lone surrogate): systemd cannot carry it`)
    return v
  }
  try {
    return decoder.decode(v)
  } catch {
    const bytes = [...v].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`))
    throw optionError(`${what} is not UTF-8 ("${bytes.join('')}"): systemd reads unit and environment files as UTF-8 and cannot carry it`)
  }
}

/** A control character (C0, DEL, or C1). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** `%` starts a specifier in almost every setting: `%%` is a literal one. */
function specifiers(s: string): string {
  return s.replaceAll('%', '%%')
}

/**
 * A value systemd takes verbatim to the end of the line (after specifier
 * expansion): WorkingDirectory=, StandardOutput=append:, ListenStream=,
 * User=. A backslash is literal there, quotes are not special.
 */
export function verbatim(what: string, v: string | Buffer): string {
  const s = utf8Text(what, v)
  if (CONTROL.test(s)) {
    throw optionError(`${what} ${JSON.stringify(s)} holds a control character: a systemd setting cannot carry it`)
  }
  if (s !== s.trim()) {
    throw optionError(`${what} ${JSON.stringify(s)} starts or ends with white space, which systemd trims: it cannot carry it`)
  }
  if (s.endsWith('\\')) {
    throw optionError(`${what} ${JSON.stringify(s)} ends with a backslash, which systemd reads as a line continuation: it cannot carry it`)
  }
  return specifiers(s)
}

/** C escapes systemd's unquoting understands (and JSON's too, for comments). */
const C_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\', '"': '\\"' }

/** Inside double quotes: backslash, quote and every control character escaped C-style. */
function cQuote(s: string): string {
  let out = '"'
  for (const ch of s) {
    const esc = C_ESCAPES[ch]
    if (esc !== undefined) out += esc
    else if (CONTROL.test(ch)) out += `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`
    else out += ch
  }
  return out + '"'
}

/**
 * One word of a command line (ExecStart=): double-quoted, C-escaped,
 * `%` and `$` doubled (systemd expands specifiers at load time and $VAR at
 * exec time; `%%` and `$$` are the literal characters). Quoted, a lone `;`
 * is an argument, not a command separator.
 */
export function execWord(what: string, v: string | Buffer): string {
  return specifiers(cQuote(utf8Text(what, v))).replaceAll('$', '$$$$')
}

/** One quoted assignment of Environment=: no $ expansion there, specifiers yes. */
export function environmentWord(name: string, value: string): string {
  return specifiers(cQuote(`${name}=${utf8Text(name, value)}`))
}

/** A variable name systemd passes on: letters, digits and '_', not starting with a digit. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * One line of an EnvironmentFile=: NAME="VALUE", with \ " ` $ backslashed
 * (the double-quoted form of its shell-like syntax, where anything else,
 * newlines included, is literal up to the closing quote).
 */
export function envFileLine(name: string, v: string | Buffer): string {
  if (!ENV_NAME.test(name)) {
    throw optionError(`environment variable name ${JSON.stringify(name)}: systemd only passes names of letters, digits and '_' (not starting with a digit)`)
  }
  const s = utf8Text(`the value of ${name}`, v)
  return `${name}="${s.replace(/[\\"`$]/g, (c) => `\\${c}`)}"\n`
}

/**
 * Free text for Description= or a comment: JSON-quoted, so it is one line
 * that never ends in a backslash (which would continue it onto the next),
 * specifiers doubled. Only a label: the values themselves are elsewhere.
 */
export function label(s: string): string {
  return specifiers(JSON.stringify(s))
}

/** A value shown in a comment, quoted JSON-style: one line whatever it holds. */
export function shown(v: string | Buffer | number | boolean): string {
  if (Buffer.isBuffer(v)) return JSON.stringify(v.toString('latin1'))
  return JSON.stringify(v)
}

/** Milliseconds as a systemd time span: 100ms, 10s, 2min (systemd.time(7)). */
export function timeSpan(ms: number): string {
  if (ms === 0) return '0'
  if (ms % 60_000 === 0) return `${ms / 60_000}min`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}
