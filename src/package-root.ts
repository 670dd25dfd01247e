// The package's root directory: the parent of the directory this code runs
// from (dist/ when built, src/ under the tests; the CLI's bundles are all
// directly in dist/ too). A module of its own, so that what needs only the
// path (the CLI's --version) does not bundle the addon's loader with it.
// import.meta.dirname: __dirname in the CLI's CommonJS bundles
// (scripts/build.mjs), so no file URL is made and parsed back.
import { join } from 'node:path'

export const packageRoot = join(import.meta.dirname, '..')
