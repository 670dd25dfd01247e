// npm run bench:peers: install what the benchmarks compare against or load
// with — pm2 and autocannon — into bench/tmp/peers (out of git and out of
// the package; not dependencies of node-daemonize).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpDir } from './bench-lib.mjs'

const peers = join(tmpDir, 'peers')
mkdirSync(peers, { recursive: true })
if (!existsSync(join(peers, 'package.json'))) writeFileSync(join(peers, 'package.json'), '{ "private": true }\n')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
execFileSync(npm, ['install', '--no-audit', '--no-fund', 'pm2@7', 'autocannon@9'], { cwd: peers, stdio: 'inherit' })
