#!/usr/bin/env bash
# Assembles what travels to the device machine for bench/cuda/device-check.sh, as one xz archive,
# device-carry/payload.tar.xz (ignored by git; the device tool's `run` carries it by name):
#   bin/    node (this machine's Node binary: the device has none), wan_backend_parity, wan_cuda_bench,
#           bench_flash_attention, flash_attention_test (bench/cuda/build.sh's build-device/, stripped)
#   pkg/    the package as Node loads it: package.json, dist/, the production node_modules (without
#           the ffmpeg binary, as the device check writes PNGs, and without the server's dependencies),
#           build/Release/wan_video.node (the CPU addon without BLAS) and
#           build-cuda/Release/wan_video.node (the CUDA addon)
#   fixtures/          ../shared/fixtures (a developer checkout's ../shared does not travel)
#   diffusers/         diffusers' src/diffusers package (the peer of the transformer benchmark)
#   node-api-headers/  Node's C headers, for a rebuild on the device if the binaries do not start
#   MANIFEST.json      the commit, the build, and the sizes
# Then checks the 64 MiB limit (this archive plus the checkout's tracked and untracked files) and
# prints the device tool's `run` call (also in bench/cuda/README.md).
#
#   bench/cuda/carry.sh [--build build-device] [--diffusers DIR] [--fixtures DIR] [--out device-carry]
#
# DIR for --diffusers: a diffusers checkout (or its src/), or a git directory of one (its HEAD is
# archived); default: $WAN_DIFFUSERS_SRC. Without it the payload has no diffusers and says so.
set -euo pipefail
cd "$(dirname "$0")/../.."

build=build-device
diffusers=${WAN_DIFFUSERS_SRC:-}
fixtures=../shared/fixtures
out=device-carry
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --diffusers) diffusers=$2; shift 2 ;;
    --fixtures) fixtures=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--diffusers DIR] [--fixtures DIR] [--out DIR]" >&2; exit 2 ;;
  esac
done
LIMIT=$((64 * 1024 * 1024))

need() { [ -e "$1" ] || { echo "carry.sh: missing $1 ($2)" >&2; exit 1; }; }
need "$build/wan_backend_parity" "run bench/cuda/build.sh"
need "$build/wan_cuda_bench" "run bench/cuda/build.sh"
need "$build/Release/wan_video.node" "run bench/cuda/build.sh (needs node_modules: npm ci)"
need "$build/cpu/Release/wan_video.node" "run bench/cuda/build.sh"
need "$build/attention/bench_flash_attention" "run bench/cuda/build.sh"
need "$fixtures/cases" "the public fixtures"
need node_modules "npm ci"

stage=$(mktemp -d /tmp/wan-carry.XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/pkg/build/Release" "$stage/pkg/build-cuda/Release"

# Binaries (symbols stripped: a third of their size).
# Node too: Debian's binary carries its debug info (12 MB); the symbols addons bind to are in
# .dynsym, which strip keeps (the dry run loads both addons through this binary).
strip -o "$stage/bin/node" "$(readlink -f "$(command -v node)")"
for f in wan_backend_parity wan_cuda_bench attention/bench_flash_attention attention/flash_attention_test; do
  [ -f "$build/$f" ] && strip -o "$stage/bin/$(basename "$f")" "$build/$f"
done
strip -o "$stage/pkg/build-cuda/Release/wan_video.node" "$build/Release/wan_video.node"
strip -o "$stage/pkg/build/Release/wan_video.node" "$build/cpu/Release/wan_video.node"

# The package: a fresh dist/, package.json, the production dependencies.
npx tsc -p tsconfig.build.json
cp package.json "$stage/pkg/"
cp -r dist "$stage/pkg/dist"
mkdir -p "$stage/pkg/node_modules"
# The server's dependencies stay behind: the device check never serves, lib/ imports them only under
# lib/server (dynamically) and as types, and they are most of the payload (better-sqlite3 alone is
# 27 MB with its build tree). The dry run's CPU conformance and e2e load the package from this very
# payload, so a static import of one of them would fail in CI, not on the device.
server_only='["fastify", "@fastify/websocket", "bullmq", "ioredis", "better-sqlite3", "ws"]'
node -e '
  const skip = new Set(JSON.parse(process.argv[1]));
  const tree = JSON.parse(require("child_process").execSync("npm ls --omit=dev --all --json --long", { maxBuffer: 1 << 28 }));
  const keep = new Set();
  const walk = (node) => {
    if (!node || !node.path || keep.has(node.path)) return;
    keep.add(node.path);
    for (const child of Object.values(node.dependencies || {})) walk(child);
  };
  for (const [name, node] of Object.entries(tree.dependencies || {})) if (!skip.has(name)) walk(node);
  for (const p of keep) console.log(p);
' "$server_only" | while read -r dir; do
  rel=${dir#"$PWD/node_modules/"}
  case "$rel" in @ffmpeg-installer/linux-*|@ffmpeg-installer/darwin-*|@ffmpeg-installer/win32-*) continue ;; esac
  mkdir -p "$stage/pkg/node_modules/$(dirname "$rel")"
  cp -r "$dir" "$stage/pkg/node_modules/$rel"
done
# What Node never loads from node_modules: type declarations, TypeScript sources, source maps, docs.
find "$stage/pkg/node_modules" -type f \( -name '*.ts' -o -name '*.cts' -o -name '*.mts' -o -name '*.map' -o -name '*.md' \) -delete
[ -d node_modules/node-api-headers/include ] && mkdir -p "$stage/node-api-headers" && cp -r node_modules/node-api-headers/include "$stage/node-api-headers/"

cp -rL "$fixtures" "$stage/fixtures"

diffusers_note="none (--diffusers or WAN_DIFFUSERS_SRC not given)"
if [ -n "$diffusers" ]; then
  if [ -d "$diffusers/src/diffusers" ]; then
    cp -r "$diffusers/src/diffusers" "$stage/diffusers"
    diffusers_note="$diffusers"
  elif [ -f "$diffusers/__init__.py" ] && [ "$(basename "$diffusers")" = diffusers ]; then
    cp -r "$diffusers" "$stage/diffusers"
    diffusers_note="$diffusers"
  elif git --git-dir "$diffusers" rev-parse HEAD >/dev/null 2>&1; then
    mkdir -p "$stage/dsrc"
    git --git-dir "$diffusers" archive HEAD src/diffusers | tar -x -C "$stage/dsrc"
    mv "$stage/dsrc/src/diffusers" "$stage/diffusers"
    rm -rf "$stage/dsrc"
    diffusers_note="$diffusers at $(git --git-dir "$diffusers" rev-parse --short HEAD)"
  else
    echo "carry.sh: $diffusers is not a diffusers checkout, src/ or git directory" >&2
    exit 1
  fi
  find "$stage/diffusers" -name __pycache__ -prune -exec rm -rf {} +
  # The import root: PYTHONPATH=<payload> finds `diffusers` there (diffusers_ref.py --diffusers-src).
  mkdir -p "$stage/diffusers-root" && mv "$stage/diffusers" "$stage/diffusers-root/diffusers" && mv "$stage/diffusers-root" "$stage/diffusers"
fi

commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | head -1)
cat >"$stage/MANIFEST.json" <<EOF
{"commit": "$commit", "dirty": $([ -n "$dirty" ] && echo true || echo false), "made": "$(date -u +%FT%TZ)",
 "nvcc": "$( (nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version) | tail -1)", "node": "$(node --version)",
 "diffusers": "$diffusers_note"}
EOF

mkdir -p "$out"
echo "carry.sh: compressing $(du -sh "$stage" | cut -f1) ..."
tar -C "$stage" -cf - . | xz -T0 -9 >"$out/payload.tar.xz.tmp"
mv "$out/payload.tar.xz.tmp" "$out/payload.tar.xz"

payload=$(stat -c %s "$out/payload.tar.xz")
tree=0
if git rev-parse --git-dir >/dev/null 2>&1; then
  tree=$(git ls-files -co --exclude-standard -z | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
fi
total=$((payload + tree))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
echo "carry.sh: payload $(mib "$payload") (node $(mib "$(stat -c %s "$stage/bin/node")") before xz), checkout $(mib "$tree"), together $(mib "$total") of 64 MiB"
for part in bin pkg fixtures diffusers; do
  [ -e "$stage/$part" ] && echo "  $part: $(du -sh "$stage/$part" | cut -f1) before xz"
done
if [ "$total" -gt "$LIMIT" ]; then
  echo "carry.sh: over the device tool's 64 MiB: leave something out" >&2
  exit 1
fi
cat <<EOF
carry.sh: the device tool's call (one command, about 7 minutes; results come back in \$OUT):
  run(command="bash bench/cuda/device-check.sh", carry=["$out"], timeout_s=540)
(the commit, $commit$([ -n "$dirty" ] && echo ' with uncommitted changes'), is recorded in the payload)
EOF
