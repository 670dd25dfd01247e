// The systemd version of this machine, from `systemctl --version` (bounded:
// 2 s, 64 KiB), for the directives that need a newer systemd.
import { spawnSync } from 'node:child_process'

/** The version number, or undefined when there is no systemctl or it says nothing we understand. */
export function detectSystemdVersion(): number | undefined {
  const r = spawnSync('systemctl', ['--version'], {
    encoding: 'utf8',
    timeout: 2000,
    maxBuffer: 64 * 1024,
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  const m = typeof r.stdout === 'string' ? /^systemd (\d+)\b/.exec(r.stdout) : null
  return m ? Number(m[1]) : undefined
}
