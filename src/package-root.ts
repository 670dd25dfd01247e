// The package's root directory: the parent of the directory this code runs
// from (dist/ when built, src/ under the tests; the CLI's bundles are all
// directly in dist/ too). A module of its own, so that what needs only the
// path (the CLI's --version) does not bundle the addon's loader with it.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
