#!/usr/bin/env bash
# The device check: one command on a machine with one NVIDIA GPU (an H100/H200; the device tool's
# machine has nvcc, CMake, PyTorch and python3, but no Node and no network), within 7 minutes.
# It runs what bench/cuda/carry.sh packed here (device-carry/payload.tar.xz: binaries built on the
# developer machine, Node, the package's dist/ and production node_modules, the public fixtures,
# diffusers' source) and writes, as they are produced, under $OUT:
#   results.json        the merged results (keys in bench/cuda/README.md; bench/cuda/merge.py)
#   device-check.log    every step's output
#   build-logs.tar.gz   the step logs and raw JSON of every step (and a rebuild's logs, if any)
#
#   bench/cuda/device-check.sh [--commit SHA] [--dry-run [--prepare]] [--budget-s 420] [--only a,b] [--skip a,b]
#
# The commit is the one carry.sh recorded in the payload (MANIFEST.json: .git does not travel);
# --commit (or $WAN_COMMIT) overrides it.
# --prepare (with --dry-run) first builds (bench/cuda/build.sh) and packs (bench/cuda/carry.sh, with
# $WAN_DIFFUSERS_SRC when set), outside the budget: the whole preparation in one command (CI's).
# --dry-run runs, on a machine without a GPU, every step that can run there: the payload unpacked,
# the carried binaries started (--preflight), the parity harness's CPU self-check (small and, with
# --reduce 64, production shapes), the conformance on the CPU through the carried Node, the e2e
# script's demo and cancellation parts on the CPU, diffusers' generator check, and the merge, which
# then fills every device figure with null / "not run: no device". CI runs it (.ci/run).
#
# Every step has a timeout, capped by what is left of the budget (--budget-s, default 420 s: the
# whole run, unpacking included); a step with too little time left is recorded as not run. Steps
# run in the order of what the results need most. Exit status 0 when every step ran and passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

dry=0
prepare=0
budget=""
commit=${WAN_COMMIT:-}
only=""
skip=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1; shift ;;
    --prepare) prepare=1; shift ;;
    --commit) commit=$2; shift 2 ;;
    --budget-s) budget=$2; shift 2 ;;
    --only) only=",$2,"; shift 2 ;;
    --skip) skip=",$2,"; shift 2 ;;
    *) echo "usage: $0 [--commit SHA] [--dry-run [--prepare]] [--budget-s 420] [--only a,b] [--skip a,b]" >&2; exit 2 ;;
  esac
done
if [ $prepare = 1 ]; then
  [ $dry = 1 ] || { echo "--prepare goes with --dry-run (the device machine runs what was carried)" >&2; exit 2; }
  bench/cuda/build.sh || exit 1
  bench/cuda/carry.sh ${WAN_DIFFUSERS_SRC:+--diffusers "$WAN_DIFFUSERS_SRC"} || exit 1
fi
# The device run must fit 7 minutes; the dry run, on 2 shared cores, gets half an hour.
budget=${budget:-$([ $dry = 1 ] && echo 1800 || echo 420)}
export WAN_COMMIT=$commit

T0=$(date +%s)
W=${WAN_DEVICE_CHECK_WORK:-$(mktemp -d /tmp/wan-device-check.XXXXXX)}
OUT=${OUT:-$W/out}
R=$W/res       # raw results of every step
L=$W/logs      # step logs
mkdir -p "$OUT" "$R" "$L"
LOG=$OUT/device-check.log
: >"$LOG"
: >"$R/steps.jsonl"
say() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$LOG"; }
left() { echo $((budget - ($(date +%s) - T0))); }

failed=0
# step NAME CAP_SECONDS COMMAND...: runs COMMAND under `timeout`, capped by the budget left (less
# 20 s kept for the merge); its output goes to the log; its status to steps.jsonl.
step() {
  local name=$1 cap=$2
  shift 2
  if [ -n "$only" ] && [[ "$only" != *",$name,"* ]]; then return 0; fi
  if [[ "$skip" == *",$name,"* ]]; then
    echo "{\"step\": \"$name\", \"status\": \"skipped\"}" >>"$R/steps.jsonl"
    return 0
  fi
  local avail=$(($(left) - 20))
  local t=$((cap < avail ? cap : avail))
  if [ "$t" -lt 5 ]; then
    say "$name: not run (budget spent)"
    echo "{\"step\": \"$name\", \"status\": \"not run: out of time\", \"cap_s\": $cap}" >>"$R/steps.jsonl"
    failed=1
    return 0
  fi
  say "$name (timeout ${t} s)"
  local s=$(date +%s)
  # Through bash -c: the command may be one of the functions below (exported), which timeout cannot run.
  timeout --kill-after=10 "$t" bash -c '"$@"' "$name" "$@" >"$L/$name.log" 2>&1
  local rc=$?
  local d=$(($(date +%s) - s))
  tail -n 60 "$L/$name.log" >>"$LOG"
  local status=ok
  [ $rc -ne 0 ] && status=failed
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && status="timed out"
  [ "$status" != ok ] && failed=1
  say "$name: $status (exit $rc, ${d} s)"
  echo "{\"step\": \"$name\", \"status\": \"$status\", \"exit\": $rc, \"seconds\": $d, \"timeout_s\": $t}" >>"$R/steps.jsonl"
  snapshot
  return $rc
}

merge() {
  python3 bench/cuda/merge.py --res "$R" --commit "$commit" --budget-s "$budget" --elapsed-s $(($(date +%s) - T0)) \
    $([ $dry = 1 ] && echo --dry-run) --out "$OUT/results.json" >>"$LOG" 2>&1 || say "merge failed"
}
# After every step: $OUT holds the results so far, should the whole command be stopped.
snapshot() {
  merge
  tar -czf "$OUT/build-logs.tar.gz" -C "$W" logs res >/dev/null 2>&1
}
finished=0
finish() {
  [ $finished = 1 ] && return 0
  finished=1
  snapshot
  say "done in $(($(date +%s) - T0)) s; results in $OUT/results.json"
}
trap finish EXIT

say "device check, commit ${commit:-(from the payload)}, $([ $dry = 1 ] && echo 'DRY RUN (no device)' || echo device run), budget $budget s, work $W"

# ---- unpack what travelled
P=$W/p
step unpack 60 bash -c "mkdir -p '$P' && xz -dc '$ROOT/device-carry/payload.tar.xz' | tar -x -C '$P'" || { say "no payload: run bench/cuda/carry.sh first"; exit 1; }
# The commit the payload was built from, unless given.
if [ -z "$commit" ]; then
  commit=$(python3 -c "import json; m = json.load(open('$P/MANIFEST.json')); print(m['commit'] + (' (dirty)' if m.get('dirty') else ''))" 2>/dev/null || echo unknown)
  export WAN_COMMIT=$commit
  say "commit from the payload: $commit"
fi
export PATH=$P/bin:$PATH
NODE=$P/bin/node
PKG=$P/pkg
BIN=$P/bin
export WAN_VIDEO_CUDA_ADDON=$PKG/build-cuda/Release/wan_video.node  # the loader's explicit CUDA addon

# ---- preflight: the GPU, the driver, the tools, and where cuBLASLt is (put on LD_LIBRARY_PATH)
preflight() {
  python3 - "$R/preflight.json" <<'PY'
import json, os, shutil, subprocess, sys
def run(cmd):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20)
        return r.stdout.strip() if r.returncode == 0 else None
    except Exception:
        return None
info = {}
smi = run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,compute_cap", "--format=csv,noheader"])
if smi:
    name, driver, mem, cc = [x.strip() for x in smi.splitlines()[0].split(",")]
    info.update(gpu=name, driver=driver, memory=mem, compute_capability=cc)
nvcc = run(["nvcc", "--version"]) or run(["/usr/local/cuda/bin/nvcc", "--version"])
info["nvcc"] = nvcc.splitlines()[-1] if nvcc else None
cm = run(["cmake", "--version"])
info["cmake"] = cm.splitlines()[0] if cm else None
t = run([sys.executable, "-c", "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())"])
info["torch"] = t
# cuBLASLt: PyTorch's nvidia wheels first, then the CUDA toolkit, then a search of the usual places.
dirs = []
try:
    import nvidia
    for base in list(nvidia.__path__):
        for sub in ("cu13/lib", "cublas/lib"):
            d = os.path.join(base, sub)
            if os.path.exists(os.path.join(d, "libcublasLt.so.13")) or any(f.startswith("libcublasLt.so") for f in (os.listdir(d) if os.path.isdir(d) else [])):
                dirs.append(d)
except Exception:
    pass
for d in ("/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu"):
    if os.path.isdir(d) and any(f.startswith("libcublasLt.so.13") for f in os.listdir(d)):
        dirs.append(d)
info["cublaslt_dirs"] = dirs
json.dump(info, open(sys.argv[1], "w"), indent=1)
print(json.dumps(info, indent=1))
PY
}
export -f preflight
export R
step preflight 30 preflight
LT_DIRS=$(python3 -c "import json,sys; print(':'.join(json.load(open('$R/preflight.json')).get('cublaslt_dirs', [])))" 2>/dev/null)
[ -n "$LT_DIRS" ] && export LD_LIBRARY_PATH=$LT_DIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
[ $dry = 1 ] && [ -d "$ROOT/.cache/nvidia-cublas/nvidia/cu13/lib" ] && export LD_LIBRARY_PATH=$ROOT/.cache/nvidia-cublas/nvidia/cu13/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# ---- the carried binaries start here (same nvcc 13 as the device); else rebuild them with every core
# Started, a kernel launched (a binary without code for this GPU fails there, not at --preflight), and
# the CUDA addon loaded by the carried Node.
starts() {
  "$BIN/wan_backend_parity" --preflight >"$R/binaries.json" &&
    "$BIN/wan_backend_parity" --group ops --filter "activation gelu_tanh" &&
    "$NODE" -e "require('$WAN_VIDEO_CUDA_ADDON')"
}
export -f starts
export BIN NODE R
if ! step binaries 30 starts; then
  if [ $dry = 0 ]; then
    lt_inc=$(python3 -c "import nvidia, os; print(next((os.path.join(b, 'cu13/include') for b in nvidia.__path__ if os.path.exists(os.path.join(b, 'cu13/include/cublasLt.h'))), ''))" 2>/dev/null)
    step rebuild 300 env PATH="$BIN:$PATH" WAN_NODE_API_HEADERS="$P/node-api-headers/include" \
      WAN_NODE_ADDON_API="$PKG/node_modules/node-addon-api" bench/cuda/build.sh --out "$W/rebuild" --jobs "$(nproc)" ${lt_inc:+--cublas-include "$lt_inc"}
    for f in wan_backend_parity wan_cuda_bench; do [ -x "$W/rebuild/$f" ] && cp "$W/rebuild/$f" "$BIN/"; done
    for f in bench_flash_attention flash_attention_test; do [ -x "$W/rebuild/attention/$f" ] && cp "$W/rebuild/attention/$f" "$BIN/"; done
    [ -f "$W/rebuild/Release/wan_video.node" ] && cp "$W/rebuild/Release/wan_video.node" "$WAN_VIDEO_CUDA_ADDON"
    [ -d "$W/rebuild" ] && cp -r "$W/rebuild/CMakeFiles/CMakeOutput.log" "$L/" 2>/dev/null
  fi
fi

parity() {  # parity NAME GEMM ARGS...
  local name=$1 gemm=$2
  shift 2
  local extra=()
  [ $dry = 1 ] && extra=(--cpu-only)
  env ${gemm:+WAN_VIDEO_GEMM=$gemm} "$BIN/wan_backend_parity" "${extra[@]}" --json "$R/parity-$name.json" "$@"
}
node_cli() { "$NODE" "$PKG/dist/cli/main.js" "$@"; }
export -f parity node_cli
export R BIN NODE PKG P dry

if [ $dry = 0 ]; then
  # Small shapes first (every op and model, each group in its own process, both GEMM paths).
  step parity-ops 60 parity ops "" --group ops
  step parity-models 60 parity models "" --group models
  # Our 1.3B forward at 480p x 81 frames and the GEMM rates (the bench's other parts come last).
  mkdir -p "$R/dump"
  step bench 120 "$BIN/wan_cuda_bench" --json "$R/bench.json" --dump "$R/dump" --skip block14b,vae,offload
  step conformance 150 bash -c "'$NODE' '$PKG/dist/cli/main.js' conformance '$P/fixtures' '$ROOT/test/fixtures' --device cuda --json >'$R/conformance.json'"
  step attention 90 env WAN_COMMIT="$commit" python3 bench/attention/run_bench.py --bin "$BIN/bench_flash_attention" \
    --device-check --min-ms 300 --out "$R/attention.json"
  step e2e 150 "$NODE" bench/cuda/e2e.mjs --pkg "$PKG" --out "$R/e2e.json" --device cuda
  step parity-ops-mma 60 parity ops-mma mma-sync --group ops
  step parity-models-mma 60 parity models-mma mma-sync --group models
  step parity-production-ops 120 parity production-ops "" --group production-ops
  step parity-production-models 120 parity production-models "" --group production-models
  # The mma.sync path at production shapes: the linears with their epilogues, the fused Q/K/V and
  # gated-residual products (convolutions and attention do not use it), and the transformer block.
  step parity-production-ops-mma 60 parity production-ops-mma mma-sync --group production-ops \
    --filter "linear production|linear_stacked production|linear_add_gated production"
  step parity-production-models-mma 60 parity production-models-mma mma-sync --group production-models --filter wan-dit
  # The peer: diffusers' transformer on the same weights, eager (saved first), then torch.compile,
  # whose compilation takes what the budget has left.
  step diffusers 200 env PYTHONUNBUFFERED=1 python3 bench/cuda/diffusers_ref.py --diffusers-src "$P/diffusers" \
    --only transformer_1_3b_480p --compile --compare "$R/dump" --json "$R/diffusers.json"
  step attention-parity 30 "$BIN/flash_attention_test"
  step bench-extra 90 "$BIN/wan_cuda_bench" --json "$R/bench-extra.json" --skip gemm,fused,dit,offload
  # #17's GPU target: what streaming blocks from host memory costs at the A14B block size.
  step offload 60 "$BIN/wan_cuda_bench" --json "$R/offload.json" --skip gemm,fused,dit,block14b,vae
else
  # Without a device: what can run here, through the same payload.
  step parity-ops 300 parity ops "" --group ops
  step parity-models 300 parity models "" --group models
  step parity-production-ops 300 parity production-ops "" --group production-ops --reduce 64
  step parity-production-models 300 parity production-models "" --group production-models --reduce 64
  step conformance-cpu 600 bash -c "'$NODE' '$PKG/dist/cli/main.js' conformance '$P/fixtures' '$ROOT/test/fixtures' --device cpu --json >'$R/conformance-cpu.json'"
  # --device cuda without a device: refused with E_DEVICE (never a silent CPU run).
  step conformance-cuda-refused 60 bash -c "out=\$('$NODE' '$PKG/dist/cli/main.js' conformance '$P/fixtures' --family rng --device cuda 2>&1); rc=\$?; echo \"\$out\"; [ \$rc -ne 0 ] && echo \"\$out\" | grep -q E_DEVICE"
  step e2e-cpu 300 "$NODE" bench/cuda/e2e.mjs --pkg "$PKG" --out "$R/e2e-cpu.json" --device cpu --tiny
  if python3 -c "import numpy, torch" 2>/dev/null; then
    step diffusers-rng 60 python3 bench/cuda/diffusers_ref.py --check-rng
  else
    echo '{"step": "diffusers-rng", "status": "skipped: no numpy/torch for python3 here"}' >>"$R/steps.jsonl"
  fi
fi
trap - EXIT
finish
# The closing line CI reads: steps passed / failed / skipped or not run.
python3 - "$R/steps.jsonl" <<'PY'
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = sum(s["status"] == "ok" for s in steps)
bad = sum(s["status"] in ("failed", "timed out") for s in steps)
print(f"device-check: {ok} passed, {bad} failed, {len(steps) - ok - bad} skipped")
PY
[ $failed = 0 ]
