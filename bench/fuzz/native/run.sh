#!/usr/bin/env bash
# Build bench/fuzz/native/range_fuzz.cpp with the native checkpoint readers (cpp/io) and the CPU
# backend they load into, under AddressSanitizer and UndefinedBehaviorSanitizer, and run it.
#   bash bench/fuzz/native/run.sh [iterations=200000] [seed=1]
# Objects go to build/fuzz-asan/ (ignored); the JSON counts go to stdout and, with OUT set, to $OUT.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
out_dir="$root/build/fuzz-asan"
mkdir -p "$out_dir"
cd "$root"  # the source list below is relative to the repository root (a glob included)
iterations="${1:-200000}"
seed="${2:-1}"
CXX="${CXX:-g++}"
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -pthread -I"$root/cpp")
# The readers and what they need: the core tensor and dtype code, the backend interface and the CPU
# backend (load_weight dequantises the bytes it is given, so every accepted range is read).
sources=(
  cpp/core/tensor.cpp cpp/core/thread_pool.cpp cpp/core/dtype_convert.cpp cpp/core/gguf_blocks.cpp
  cpp/io/mapped_file.cpp cpp/io/weight_source.cpp cpp/ops/backend.cpp
  cpp/backends/cpu/*.cpp
  bench/fuzz/native/range_fuzz.cpp
)
objs=()
for s in "${sources[@]}"; do objs+=("$out_dir/$(echo "$s" | tr '/' '_').o"); done
# Compile what changed, JOBS at a time (the objects are kept between runs).
for i in "${!sources[@]}"; do
  s="${sources[$i]}"
  o="${objs[$i]}"
  if [[ ! -f "$o" || "$root/$s" -nt "$o" ]]; then printf '%s %s\n' "$root/$s" "$o"; fi
done | xargs -r -P "${JOBS:-2}" -n 2 sh -c 'echo "compile $0" >&2; '"$CXX ${flags[*]}"' -c "$0" -o "$1"'
"$CXX" "${flags[@]}" "${objs[@]}" -o "$out_dir/range_fuzz"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
result="$("$out_dir/range_fuzz" "$iterations" "$seed" "${TMPDIR:-/tmp}")"
echo "$result"
if [[ -n "${OUT:-}" ]]; then
  commit="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
  printf '{"benchmark": "fuzz-native-ranges", "date": "%s", "commit": "%s", "compiler": "%s", "sanitizers": "address,undefined", "iterations": %s, "result": %s}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$commit" "$("$CXX" --version | head -1)" "$iterations" "$result" > "$OUT"
  echo "wrote $OUT" >&2
fi
