#!/usr/bin/env bash
# Packaging test: build the prebuilds, npm pack, install the tarball into a
# scratch project as a user without a compiler would (--ignore-scripts, a
# scratch HOME with no npm config such as nodedir, a PATH with node and npm but
# no cc/gcc/make/python), then use it from there: import the API and run the
# CLI's start/status/stop of a real daemon. Prints the figures, and
# "packaging: N passed, M failed" for .ci/run to add to its count.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
passed=0
failed=0
check() { # name, command...
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "packaging ok: $name"
  else
    failed=$((failed + 1))
    echo "packaging FAILED: $name"
  fi
}

scratch=$(mktemp -d /tmp/nd-packaging.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

check "npm run prebuilds" npm run prebuilds --silent
check "x64 prebuild present" test -f prebuilds/linux-x64/node_daemonize.node -a -f prebuilds/linux-x64/node-daemonize-helper
check "npm pack" npm pack --silent --pack-destination "$scratch"
tarball=$(ls "$scratch"/node-daemonize-*.tgz 2>/dev/null | head -1)

# node and npm, and the few tools sh scripts need, but no compiler, make or python.
mkdir -p "$scratch/bin" "$scratch/home" "$scratch/project"
for t in node npm npx sh env; do ln -s "$(command -v $t)" "$scratch/bin/$t"; done
userenv=(env -i HOME="$scratch/home" PATH="$scratch/bin" TMPDIR=/tmp npm_config_update_notifier=false)
check "no compiler on the user's PATH" "${userenv[@]}" sh -c '! command -v cc && ! command -v gcc && ! command -v make && ! command -v python3'

cd "$scratch/project"
echo '{ "name": "scratch", "version": "1.0.0", "private": true, "type": "module" }' >package.json
start=$(date +%s.%N)
check "npm install --ignore-scripts of the tarball" "${userenv[@]}" npm install --ignore-scripts --no-audit --no-fund --loglevel=error "$tarball"
end=$(date +%s.%N)
seconds=$(node -p "($end - $start).toFixed(1)")
packages=$(node -p 'Object.keys(require("./package-lock.json").packages).filter((k) => k !== "").length')
packed=$(stat -c %s "$tarball")
echo "packaging figures: install ${seconds}s, ${packages} packages, tarball $((packed / 1024)) KiB packed"
check "tarball at most 1 MB" test "$packed" -le 1048576
check "at most 16 packages" test "$packages" -le 16

cat >use-api.mjs <<'JS'
import { daemonize, getsid } from 'node-daemonize'
import { helperPath } from './node_modules/node-daemonize/dist/native.js'
if (typeof daemonize !== 'function' || typeof getsid() !== 'number') throw new Error('the API did not load')
if (!helperPath().includes(`/prebuilds/linux-${process.arch}/`)) throw new Error(`helper from ${helperPath()}`)
console.log('api ok, helper', helperPath())
JS
check "import the API (the prebuild loads)" "${userenv[@]}" node use-api.mjs
cp "$root/examples/hello-server.js" .
pidf="$scratch/hello.pid"
check "CLI start" "${userenv[@]}" npx --no-install node-daemonize start hello-server.js --log-file "$scratch/hello.log" --pid-file "$pidf" -- --port 0
check "CLI status: running" "${userenv[@]}" npx --no-install node-daemonize status --pid-file "$pidf"
check "CLI stop" "${userenv[@]}" npx --no-install node-daemonize stop --pid-file "$pidf"
check "CLI status: stopped" sh -c "! ${userenv[*]} npx --no-install node-daemonize status --pid-file '$pidf' >/dev/null"

# With scripts on (npm rebuild runs the install step): it checks the prebuild
# and uses it, no compiler needed.
check "install step uses the prebuild, no compiler" sh -c "${userenv[*]} npm rebuild node-daemonize --foreground-scripts 2>&1 | tee /dev/stderr | grep -q 'using the prebuilt binaries for linux-'"

# A forced source build, as a user with a compiler but no nodedir in their npm
# config and no way to download headers (the dist URL points nowhere): the
# install step finds Node's headers beside Node and builds offline.
buildenv=(env -i HOME="$scratch/home" PATH="$scratch/bin:/usr/bin:/bin" TMPDIR=/tmp npm_config_update_notifier=false
  npm_config_disturl=http://127.0.0.1:9/ NODE_DAEMONIZE_BUILD_FROM_SOURCE=1)
check "forced source build, offline, no nodedir configured" sh -c "${buildenv[*]} npm rebuild node-daemonize --foreground-scripts >'$scratch/build.log' 2>&1 || { tail -20 '$scratch/build.log'; exit 1; }"
check "the source build is what loads" sh -c "${userenv[*]} node -e \"import('./node_modules/node-daemonize/dist/native.js').then((m) => { if (!m.helperPath().includes('/build/Release/')) throw new Error(m.helperPath()) })\""
rm -rf node_modules/node-daemonize/build

# macOS: npm itself refuses the package (EBADPLATFORM), before any build. npm
# reads the platform from process.platform, so npm is run believing it is darwin.
echo "Object.defineProperty(process, 'platform', { value: 'darwin' })" >"$scratch/darwin.cjs"
mkdir -p "$scratch/mac"
echo '{ "name": "scratch-mac", "version": "1.0.0", "private": true }' >"$scratch/mac/package.json"
check "macOS: npm install fails with EBADPLATFORM" sh -c "cd '$scratch/mac' && ${userenv[*]} NODE_OPTIONS='--require $scratch/darwin.cjs' npm install --no-audit --no-fund '$tarball' 2>&1 | grep -q EBADPLATFORM && test ! -e node_modules/node-daemonize"

echo "packaging: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
