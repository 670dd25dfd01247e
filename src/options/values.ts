// The checks every option value goes through (a string, a path, bytes, a
// boolean, a list), each a DaemonizeError at stage 'options' naming the
// option when it fails.
import { optionError } from '../errors.js'

export function checkString(name: string, v: unknown): string {
  if (typeof v !== 'string') throw optionError(`${name} must be a string, got ${typeof v}`)
  if (v.includes('\0')) throw optionError(`${name} must not contain a NUL byte`)
  return v
}

/** A path: a non-empty string (resolve('') would quietly mean the caller's cwd). */
export function checkPath(name: string, v: unknown): string {
  if (checkString(name, v) === '') throw optionError(`${name} must not be empty`)
  return v as string
}

export function checkBoolean(name: string, v: unknown): boolean {
  if (v === undefined) return false
  if (typeof v !== 'boolean') throw optionError(`${name} must be a boolean, got ${typeof v}`)
  return v
}

/** A string, or a Buffer for bytes that are not UTF-8 (program arguments, environment values). */
export function checkBytes(name: string, v: unknown): string | Buffer {
  if (!Buffer.isBuffer(v)) return checkString(name, v)
  if (v.includes(0)) throw optionError(`${name} must not contain a NUL byte`)
  return v
}

export function checkStrings(name: string, v: unknown): string[] {
  if (v === undefined) return []
  if (!Array.isArray(v)) throw optionError(`${name} must be an array of strings`)
  return v.map((s, i) => checkString(`${name}[${i}]`, s))
}

export function checkArray(name: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) throw optionError(`${name} must be an array of strings`)
  return v
}
