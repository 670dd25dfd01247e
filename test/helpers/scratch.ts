// Directories of the tests' own under $TMPDIR, each removed when its test
// (scratchDir) or its file (scratchDirForFile) is done: without them each run
// left some hundred directories behind. No test file calls mkdtemp itself.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach } from 'vitest'

const made: string[] = []
let cleaning = false

/** `<TMPDIR>/<prefix>XXXXXX`: mode 0700 as mkdtemp makes it, or `mode` (set by chmod, so the umask plays no part). */
function make(prefix: string, mode: number | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  if (mode !== undefined) chmodSync(dir, mode)
  return dir
}

/** Removes every directory given, then throws the first failure (if any). */
function remove(dirs: string[]): void {
  let first: unknown
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch (e) {
      first ??= e
    }
  }
  if (first !== undefined) throw first
}

/**
 * A new directory `<TMPDIR>/<prefix>XXXXXX` (0700, or `mode`), removed after
 * the running test. Call it in a test or a beforeEach of a file that called
 * cleanUpScratchDirs() (for a directory the file's tests share, see
 * scratchDirForFile).
 */
export function scratchDir(prefix: string, mode?: number): string {
  if (!cleaning) throw new Error('scratchDir: call cleanUpScratchDirs() at the top of the test file')
  const dir = make(prefix, mode)
  made.push(dir)
  return dir
}

/**
 * Call at the top of a test file that uses scratchDir(), before
 * cleanUpDaemons(): vitest runs afterEach hooks last-registered first, so
 * the directories go after the daemons that wrote into them (and after
 * whatever else the file's own afterEach hooks end). A second call does
 * nothing.
 */
export function cleanUpScratchDirs(): void {
  if (cleaning) return
  cleaning = true
  afterEach(() => remove(made.splice(0)))
}

/**
 * A new directory `<TMPDIR>/<prefix>XXXXXX` (0700, or `mode`) that all the
 * tests of this file share: made at once (as the file is collected, so that
 * a table of cases may name paths in it), removed after the file's last test.
 * Call it at the top level of a test file.
 */
export function scratchDirForFile(prefix: string, mode?: number): string {
  const dir = make(prefix, mode)
  afterAll(() => remove([dir]))
  return dir
}
