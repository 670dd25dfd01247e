// A directory of its own for every test, under $TMPDIR, removed after the
// test: without it each run left some hundred directories behind.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach } from 'vitest'

const made: string[] = []

/** A new directory `<TMPDIR>/<prefix>XXXXXX`, removed after this test (cleanUpScratchDirs). */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

/**
 * Call at the top of a test file that uses scratchDir(), before
 * cleanUpDaemons(): vitest runs afterEach hooks last-registered first, so
 * the directories go after the daemons that wrote into them.
 */
export function cleanUpScratchDirs(): void {
  afterEach(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true })
  })
}
