#!/usr/bin/env bash
# The nvidia-cublas wheel of the local pip index, unpacked under .cache/nvidia-cublas/: prints the
# folder that holds include/cublasLt.h (and, without --include-only, lib/libcublasLt.so.13).
# The header builds the cuBLASLt path (bench/cuda/build.sh); the library lets the dry run check
# that every entry point the backend opens at run time exists (wan_backend_parity --preflight).
# Exit 1 when pip cannot get the wheel (the builds then go without cuBLASLt and say so).
#
#   bench/cuda/cublas-wheel.sh [--include-only]
set -euo pipefail
cd "$(dirname "$0")/../.."
only_include=0
[ "${1:-}" = "--include-only" ] && only_include=1

dir=.cache/nvidia-cublas
root=$dir/nvidia/cu13
if [ ! -f "$root/include/cublasLt.h" ] || { [ $only_include = 0 ] && [ ! -f "$root/lib/libcublasLt.so.13" ]; }; then
  mkdir -p "$dir"
  wheel=$(ls "$dir"/nvidia_cublas-*.whl 2>/dev/null | head -1 || true)
  if [ -z "$wheel" ]; then
    python3 -m pip download --quiet --no-deps --only-binary=:all: nvidia-cublas -d "$dir" >&2 || exit 1
    wheel=$(ls "$dir"/nvidia_cublas-*.whl 2>/dev/null | head -1)
    [ -n "$wheel" ] || exit 1
  fi
  members=('nvidia/cu13/include/*')
  [ $only_include = 0 ] && members+=('nvidia/cu13/lib/libcublasLt.so.13')
  python3 - "$wheel" "$dir" "${members[@]}" <<'PY' >&2 || exit 1
import fnmatch, sys, zipfile
wheel, dest, *patterns = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if any(fnmatch.fnmatch(n, p) for p in patterns)]
    if not names:
        sys.exit(f"{wheel}: no {patterns}")
    for n in names:
        z.extract(n, dest)
PY
fi
readlink -f "$root"
