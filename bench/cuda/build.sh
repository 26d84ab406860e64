#!/usr/bin/env bash
# Builds what the device check runs, in one CMake build so that the kernels compile once:
#   wan_video.node      the CUDA addon (Node loads it through $WAN_VIDEO_CUDA_ADDON / build-cuda/)
#   wan_backend_parity  every backend op and model against the CPU backend
#   wan_cuda_bench      GEMM, transformer and VAE timings
#   attention/bench_flash_attention, attention/flash_attention_test   (bench/attention/, standalone)
#   cpu/Release/wan_video.node   the CPU addon without BLAS (the CPU side of the device's comparisons)
# for one architecture (sm_90, or sm_90a once a kernel uses Hopper-only instructions), without
# OpenBLAS (the device machine has none: the CPU reference uses the portable kernel there), and with
# cuBLASLt's header (the library is opened at run time: cpp/backends/cuda/cublaslt_gemm.cpp).
#
#   bench/cuda/build.sh [--out DIR] [--arch 90] [--jobs N] [--cublas-include DIR]
#
# DIR defaults to build-device/. The build directory is reused (incremental). cublasLt.h is taken
# from the CUDA toolkit, else from --cublas-include, else from the nvidia-cublas wheel of the local
# pip index (bench/cuda/cublas-wheel.sh); without any, the build has no cuBLASLt path (said so).
# Plain cmake, no cmake-js: the device machine has no node_modules/cmake-js, and on Linux cmake-js
# only adds the Node headers (CMAKE_JS_INC) and the output folder, given here.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=build-device
arch=""
jobs=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
lt_include=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --cublas-include) lt_include=$2; shift 2 ;;
    *) echo "usage: $0 [--out DIR] [--arch 90] [--jobs N] [--cublas-include DIR]" >&2; exit 2 ;;
  esac
done

nvcc=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$nvcc" ] || { echo "build.sh: no nvcc (set CUDACXX)" >&2; exit 1; }

# The architecture: sm_90a when a kernel uses wgmma/setmaxnreg (the rule CMakeLists.txt applies to
# its default list), else sm_90; both run on an H100/H200.
if [ -z "$arch" ]; then
  if grep -rqE '__CUDA_ARCH_FEAT_SM90_ALL|wgmma\.mma_async' cuda cpp/backends/cuda 2>/dev/null; then arch=90a; else arch=90; fi
fi

if [ -z "$lt_include" ]; then
  toolkit_inc="$(dirname "$(dirname "$(readlink -f "$nvcc")")")/include"
  if [ -f "$toolkit_inc/cublasLt.h" ]; then
    lt_include=$toolkit_inc
  elif lt_root=$(bench/cuda/cublas-wheel.sh --include-only 2>/dev/null); then
    lt_include=$lt_root/include
  else
    echo "build.sh: no cublasLt.h (toolkit or nvidia-cublas wheel): building without the cuBLASLt path" >&2
  fi
fi

# Node's headers for the addon: node-api-headers (a devDependency) or the copy the carry holds.
# On the device machine the payload's copies are named by $WAN_NODE_API_HEADERS / $WAN_NODE_ADDON_API.
node_inc=""
for d in ${WAN_NODE_API_HEADERS:-} node_modules/node-api-headers/include; do
  [ -f "$d/node_api.h" ] && { node_inc=$(readlink -f "$d"); break; }
done
addon_inc=""
for d in ${WAN_NODE_ADDON_API:-} node_modules/node-addon-api; do
  [ -f "$d/napi.h" ] && { addon_inc=$(readlink -f "$d"); break; }
done
targets=(wan_backend_parity wan_cuda_bench)
if [ -n "$node_inc" ] && [ -n "$addon_inc" ] && command -v node >/dev/null; then
  targets+=(wan_video)
else
  echo "build.sh: no Node headers or node: the addon is not built" >&2
fi

gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
[ -f "$out/CMakeCache.txt" ] && gen=()  # keep the generator the folder was made with
cmake -S . -B "$out" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$nvcc" \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DWAN_BUILD_PARITY=ON -DWAN_BUILD_CUDA_BENCH=ON -DWAN_BLAS=OFF \
  -DWAN_CUBLASLT_INCLUDE="$lt_include" -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$(readlink -f "$out")/Release" \
  -DCMAKE_JS_INC="$node_inc;$addon_inc" -DCMAKE_CXX_FLAGS=-DBUILDING_NODE_EXTENSION
cmake --build "$out" --target "${targets[@]}" -j "$jobs"

# The flash-attention benchmark and its parity test (bench/attention/CMakeLists.txt).
cmake -S bench/attention -B "$out/attention" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$nvcc" \
  -DCMAKE_CUDA_ARCHITECTURES="$arch"
cmake --build "$out/attention" -j "$jobs"

# The CPU addon the device's Node uses for `--device cpu` (node-gyp's build links OpenBLAS here,
# which the device machine does not have): the same sources, no CUDA, no BLAS.
if [[ " ${targets[*]} " == *" wan_video "* ]]; then
  cmake -S . -B "$out/cpu" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DWAN_CUDA=OFF -DWAN_BLAS=OFF \
    -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$(readlink -f "$out")/cpu/Release" \
    -DCMAKE_JS_INC="$node_inc;$addon_inc" -DCMAKE_CXX_FLAGS=-DBUILDING_NODE_EXTENSION
  cmake --build "$out/cpu" --target wan_video -j "$jobs"
fi
ls -la "$out"/wan_backend_parity "$out"/wan_cuda_bench "$out"/Release/wan_video.node "$out"/cpu/Release/wan_video.node \
  "$out"/attention/bench_flash_attention "$out"/attention/flash_attention_test 2>/dev/null || true
