// `unit --install`: the files written into the unit directory, each created
// with O_EXCL (an existing unit is never overwritten, nor a planted symbolic
// link followed) and given its mode exactly (the environment file 0600:
// it may hold secrets). Either every file is written or none is left.
import { closeSync, constants as fsc, fchmodSync, openSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { DaemonizeError, stageError } from '../errors.js'

/** One file of a unit set: a unit, or its environment file. */
export interface UnitFile {
  /** The file's name in unitDir. */
  name: string
  text: string
  /** 0644 for units, 0600 for the environment file (it may hold secrets). */
  mode: number
}

/** Write `files` into `dir`; returns their paths. Throws at stage 'unit'. */
export function installFiles(dir: string, files: UnitFile[]): string[] {
  const written: string[] = []
  try {
    for (const f of files) {
      const path = join(dir, f.name)
      writeNew(path, f)
      written.push(path)
    }
  } catch (err) {
    for (const p of written) unlinkSync(p)
    throw err
  }
  return written
}

function writeNew(path: string, f: UnitFile): void {
  let fd: number
  try {
    fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW | fsc.O_NOCTTY, f.mode)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new DaemonizeError(`${path} already exists: not overwritten (remove it, or choose another --unit-name)`, {
        stage: 'unit',
        code: 'EEXIST',
        errno: -17,
        syscall: 'open',
        path,
      })
    }
    throw stageError('unit', `cannot create ${path}`, err, path)
  }
  try {
    fchmodSync(fd, f.mode)
    const data = Buffer.from(f.text)
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off)
  } catch (err) {
    closeSync(fd)
    unlinkSync(path)
    throw stageError('unit', `cannot write ${path}`, err, path)
  }
  closeSync(fd)
}
