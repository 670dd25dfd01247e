// The CLI section's rows per command (issue 23), for bench.mjs: row() and
// check() are bench.mjs's, which collect the table and the checks.
import { stats } from './bench-lib.mjs'

/**
 * Each command against `node -e 0`, both without NODE_EXTRA_CA_CERTS
 * (issue 23): the median of the per-round differences (the sides run
 * interleaved), with the number of modules each loads (Node's builtins, and
 * files: the bin, the CLI's files, the addon).
 */
const COMMAND_ROWS = [
  ['cmdHelp', '--help', 8],
  ['cmdStatus', 'status NAME (running)', 8],
  ['cmdStop', 'stop NAME (not running)', 8],
  ['cmdList', 'list (100 saved names, 10 running)', 40],
  ['cmdLogs', 'logs NAME -n 20', 8],
  ['cmdStart', 'start --startup-grace 0 (idle entry)', 12],
]

export function commandRows(r, { row, check }) {
  // The command rows' own node -e 0, interleaved with them (bench-cli.mjs)
  const base = r.cmdBase ?? r.nodeE0NoCa
  if (base === undefined) return
  const median = (a) => stats(a).median
  for (const [key, label, target] of COMMAND_ROWS) {
    const side = r[key]
    if (side === undefined) continue
    const added = side.ms.map((v, i) => v - base.ms[i])
    row(`cli.cmd.${key.slice(3).toLowerCase()}`, 'cli', `CLI ${label}, without NODE_EXTRA_CA_CERTS`, 'ms', side.ms, true)
    const m = side.modules
    const loaded = m === undefined ? '' : `; loads ${m.builtins} builtins (node -e 0: ${base.modules?.builtins ?? '?'}), ${m.files} files`
    const v = median(added)
    check(`CLI ${label}: added to node -e 0 (ms)${loaded}`, v.toFixed(1), `≤ ${target}`, v <= target)
  }
}
