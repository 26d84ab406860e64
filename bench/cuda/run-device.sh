#!/usr/bin/env bash
# One run on a device machine: build the parity harness and the benchmark, run both, run diffusers'
# reference on the same GPU, and write bench/results/<date>-<device>.json; then the flash-attention
# parity test and its benchmark against PyTorch SDPA (bench/results/<date>-<device>-attention.json). Needs nvcc, cmake,
# python3 (numpy; PyTorch for the reference); no Node.
#
#   bench/cuda/run-device.sh [--diffusers-src PATH] [--quick] [--arch 90]
#
# Also copies the results file (and the raw logs) to $OUT when that is set.
set -uo pipefail
cd "$(dirname "$0")/../.."

diffusers_src=${DIFFUSERS_SRC:-}
quick=()
arch=""
while [ $# -gt 0 ]; do
  case "$1" in
    --diffusers-src) diffusers_src=$2; shift 2 ;;
    --quick) quick=(--quick); shift ;;
    --arch) arch=$2; shift 2 ;;
    *) echo "usage: $0 [--diffusers-src PATH] [--quick] [--arch 90]" >&2; exit 2 ;;
  esac
done
if [ -z "$arch" ]; then
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
  arch=${arch:-90}
fi

build=${WAN_BENCH_BUILD:-build-bench}
tmp=bench/tmp/cuda-run
mkdir -p "$tmp/dump" bench/results
log() { echo "== $*" | tee -a "$tmp/run.log"; }

log "configure (sm_$arch)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DWAN_BUILD_PARITY=ON -DWAN_BUILD_CUDA_BENCH=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" >>"$tmp/run.log" 2>&1 || { tail -30 "$tmp/run.log"; exit 1; }
log "build"
cmake --build "$build" --target wan_backend_parity wan_cuda_bench -j "$(nproc)" >>"$tmp/run.log" 2>&1 \
  || { tail -40 "$tmp/run.log"; exit 1; }

log "parity"
"$build/wan_backend_parity" --json "$tmp/parity.json" 2>&1 | tee "$tmp/parity.log"
parity_rc=${PIPESTATUS[0]}

log "benchmark"
"$build/wan_cuda_bench" "${quick[@]}" --json "$tmp/bench.json" --dump "$tmp/dump" 2>&1 | tee "$tmp/bench.log"
bench_rc=${PIPESTATUS[0]}

diffusers_rc=0
if [ -n "$diffusers_src" ]; then
  log "diffusers reference"
  python3 bench/cuda/diffusers_ref.py --diffusers-src "$diffusers_src" "${quick[@]}" --json "$tmp/diffusers.json" \
    --compare "$tmp/dump" 2>&1 | tee "$tmp/diffusers.log"
  diffusers_rc=${PIPESTATUS[0]}
else
  log "no --diffusers-src: the reference timings are skipped"
fi

# The attention kernels' own parity test and their benchmark against PyTorch SDPA (issue #8):
# bench/results/<date>-<device>-attention.json.
attention_rc=0
log "attention: build, parity test, benchmark"
if cmake -S bench/attention -B bench/attention/build -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" >>"$tmp/run.log" 2>&1 &&
  cmake --build bench/attention/build -j "$(nproc)" >>"$tmp/run.log" 2>&1; then
  bench/attention/build/flash_attention_test 2>&1 | tee "$tmp/attention-test.log"
  attention_rc=${PIPESTATUS[0]}
  python3 bench/attention/run_bench.py 2>&1 | tee "$tmp/attention-bench.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || attention_rc=1
else
  tail -30 "$tmp/run.log"
  attention_rc=1
fi

commit=$(git rev-parse HEAD 2>/dev/null || echo "${WAN_COMMIT:-unknown}")
result=$(python3 - "$tmp" "$commit" "$parity_rc" "$bench_rc" "$diffusers_rc" <<'PY'
import datetime, json, os, re, sys
tmp, commit, parity_rc, bench_rc, diffusers_rc = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
def load(name):
    p = os.path.join(tmp, name)
    return json.load(open(p)) if os.path.exists(p) else None
parity, bench, ref = load("parity.json"), load("bench.json"), load("diffusers.json")
device = (bench or {}).get("device") or (parity or {}).get("device") or "unknown"
out = {
    "device": device,
    "date": datetime.date.today().isoformat(),
    "commit": commit,
    "exit_codes": {"parity": parity_rc, "bench": bench_rc, "diffusers": diffusers_rc},
    "parity": (parity or {}).get("parity", []),
    "parity_summary": {k: (parity or {}).get(k) for k in ("mode", "passed", "failed")},
    "timings": {"wan_video": bench, "diffusers": ref},
}
ratios = {}
for key in ("transformer_1_3b_480p", "block_14b_720p"):
    ours, theirs = (bench or {}).get(key), (ref or {}).get(key)
    if ours and theirs and ours.get("seconds") and theirs.get("seconds"):
        ratios[key] = {"ours_seconds": ours["seconds"], "diffusers_seconds": theirs["seconds"],
                       "ours_over_diffusers": ours["seconds"] / theirs["seconds"],
                       "rel_l2_ours_vs_diffusers": theirs.get("rel_l2_ours_vs_diffusers")}
out["transformer_vs_diffusers"] = ratios
slug = re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-")
path = f"bench/results/{out['date']}-{slug}.json"
with open(path, "w") as f:
    json.dump(out, f, indent=2)
    f.write("\n")
print(path)
PY
)
log "wrote $result"
if [ -n "${OUT:-}" ]; then
  cp "$result" "$OUT/" && cp "$tmp"/*.log "$tmp"/*.json "$OUT/" 2>/dev/null
  cp bench/results/*-attention.json "$OUT/" 2>/dev/null
fi
[ "$parity_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ] && [ "$diffusers_rc" -eq 0 ] && [ "$attention_rc" -eq 0 ]
