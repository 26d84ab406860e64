// Data movement of the video VAE on the device: nearest 2x upsampling, permute, and Wan2.2's
// space/time folding shortcuts, with the index arithmetic of cpp/backends/cpu/cpu_video.cpp.
// One thread per output element (or float4 of them when whole pixels allow), 64-bit indices: a
// decoded 480p chunk of 96 channels is past 2^31 elements' worth of bytes. These ops move memory
// and do no math, so they are bandwidth-bound; the grid-stride loops cap the grid at a few waves.
#include <algorithm>
#include <climits>
#include <cstdint>

#include <cuda_runtime.h>

#include "cuda/video/video_kernels.h"
#include "cuda/video/video_layout_index.cuh"

namespace wan::cuda {
namespace video_detail {

constexpr int kLayoutThreads = 256;

static unsigned layout_blocks(int64_t n) {
  // Enough blocks to fill any current GPU several times over; the loops cover the rest.
  return static_cast<unsigned>(std::min<int64_t>((n + kLayoutThreads - 1) / kLayoutThreads, int64_t{1} << 20));
}

static bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

#define WAN_GRID_STRIDE(i, n)                                                                  \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// The index math of every kernel lives in video_layout_index.cuh (checked on the host by the test).
template <typename V>
__global__ void upsample_nearest_2x_kernel(const V* __restrict__ x, V* __restrict__ y, int64_t T, int64_t H,
                                           int64_t W, int64_t CV) {
  const int64_t n = T * 2 * H * 2 * W * CV;
  WAN_GRID_STRIDE(i, n) { y[i] = x[upsample_source(i, H, W, CV)]; }
}

template <typename V>
__global__ void permute_kernel(const V* __restrict__ x, V* __restrict__ y, const PermuteArgs a) {
  WAN_GRID_STRIDE(i, a.n) { y[i] = x[permute_source(i, a)]; }
}

// The mean is not fused into the residual add (no FMA), so both backends round alike.
__global__ void avg_down_3d_kernel(const SpaceTimeKernelParams p, const AvgDownArgs a) {
  const int64_t n = a.To * a.Ho * a.Wo * p.Cout;
  WAN_GRID_STRIDE(i, n) {
    const float mean = __fmul_rn(avg_down_sum(p, a, i), a.inv);
    p.y[i] = p.accumulate ? p.y[i] + mean : mean;
  }
}

__global__ void dup_up_3d_kernel(const SpaceTimeKernelParams p, int64_t To, int64_t Ho, int64_t Wo, int repeats) {
  const int64_t n = To * Ho * Wo * p.Cout;
  WAN_GRID_STRIDE(i, n) {
    const float v = p.x[dup_up_source(p, Ho, Wo, repeats, i)];
    p.y[i] = p.accumulate ? p.y[i] + v : v;
  }
}

#undef WAN_GRID_STRIDE

}  // namespace video_detail

using namespace video_detail;

// ---- upsample_nearest_2x
const char* video_params_error(const Upsample2xKernelParams& p) {
  if (p.T < 0 || p.H < 0 || p.W < 0 || p.C <= 0) return "upsample_nearest_2x: T, H, W must be >= 0 and C > 0";
  if (int64_t{p.T} * p.H * p.W > 0 && (!p.x || !p.y)) return "upsample_nearest_2x: x or y is null";
  return nullptr;
}

int launch_upsample_nearest_2x(const Upsample2xKernelParams& p, void* stream) {
  if (video_params_error(p)) return static_cast<int>(cudaErrorInvalidValue);
  const int64_t n = int64_t{p.T} * 4 * p.H * p.W * p.C;
  if (n == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  if (p.C % 4 == 0 && aligned16(p.x) && aligned16(p.y)) {
    upsample_nearest_2x_kernel<float4><<<layout_blocks(n / 4), kLayoutThreads, 0, s>>>(
        reinterpret_cast<const float4*>(p.x), reinterpret_cast<float4*>(p.y), p.T, p.H, p.W, p.C / 4);
  } else {
    upsample_nearest_2x_kernel<float><<<layout_blocks(n), kLayoutThreads, 0, s>>>(p.x, p.y, p.T, p.H, p.W, p.C);
  }
  return static_cast<int>(cudaGetLastError());
}

// ---- permute
const char* video_params_error(const PermuteKernelParams& p) {
  if (p.rank < 1 || p.rank > 8) return "permute: rank must be in [1, 8]";
  bool seen[8] = {};
  int64_t n = 1;
  for (int i = 0; i < p.rank; ++i) {
    if (p.perm[i] < 0 || p.perm[i] >= p.rank || seen[p.perm[i]]) return "permute: perm is not a permutation";
    seen[p.perm[i]] = true;
    if (p.dims[i] < 0) return "permute: dims must be >= 0";
    n *= p.dims[i];
  }
  if (n > 0 && (!p.x || !p.y)) return "permute: x or y is null";
  return nullptr;
}

int launch_permute(const PermuteKernelParams& p, void* stream) {
  if (video_params_error(p)) return static_cast<int>(cudaErrorInvalidValue);
  const PermuteArgs a = make_permute_args(p, aligned16(p.x) && aligned16(p.y));
  if (a.n == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  if (a.vec4) {
    permute_kernel<float4><<<layout_blocks(a.n), kLayoutThreads, 0, s>>>(reinterpret_cast<const float4*>(p.x),
                                                                        reinterpret_cast<float4*>(p.y), a);
  } else {
    permute_kernel<float><<<layout_blocks(a.n), kLayoutThreads, 0, s>>>(p.x, p.y, a);
  }
  return static_cast<int>(cudaGetLastError());
}

// ---- avg_down_3d / dup_up_3d
namespace {
const char* space_time_common(const SpaceTimeKernelParams& p) {
  if (p.T < 0 || p.H < 0 || p.W < 0 || p.Cin <= 0 || p.Cout <= 0) return "T, H, W must be >= 0, Cin and Cout > 0";
  if (p.factor_t <= 0 || p.factor_s <= 0) return "factor_t and factor_s must be > 0";
  if (int64_t{p.factor_t} * p.factor_s * p.factor_s * std::max(p.Cin, p.Cout) > INT_MAX)
    return "channels times factors too large";
  return nullptr;
}
}  // namespace

const char* video_params_error_avg_down(const SpaceTimeKernelParams& p) {
  if (const char* e = space_time_common(p)) return e;
  const int64_t folded = int64_t{p.Cin} * p.factor_t * p.factor_s * p.factor_s;
  if (folded % p.Cout != 0) return "avg_down_3d: Cout must divide Cin * factor_t * factor_s^2";
  if (p.drop_frames != 0) return "avg_down_3d: drop_frames must be 0";
  if (int64_t{p.T} * p.H * p.W > 0 && (!p.x || !p.y)) return "avg_down_3d: x or y is null";
  return nullptr;
}

int launch_avg_down_3d(const SpaceTimeKernelParams& p, void* stream) {
  if (video_params_error_avg_down(p)) return static_cast<int>(cudaErrorInvalidValue);
  const AvgDownArgs a = make_avg_down_args(p);
  const int64_t n = a.To * a.Ho * a.Wo * p.Cout;
  if (n == 0) return 0;
  avg_down_3d_kernel<<<layout_blocks(n), kLayoutThreads, 0, static_cast<cudaStream_t>(stream)>>>(p, a);
  return static_cast<int>(cudaGetLastError());
}

const char* video_params_error_dup_up(const SpaceTimeKernelParams& p) {
  if (const char* e = space_time_common(p)) return e;
  const int64_t unfolded = int64_t{p.Cout} * p.factor_t * p.factor_s * p.factor_s;
  if (unfolded % p.Cin != 0) return "dup_up_3d: Cin must divide Cout * factor_t * factor_s^2";
  if (p.drop_frames < 0 || p.drop_frames > int64_t{p.T} * p.factor_t)
    return "dup_up_3d: drop_frames must be in [0, T * factor_t]";
  if (int64_t{p.T} * p.H * p.W > 0 && (!p.x || !p.y)) return "dup_up_3d: x or y is null";
  return nullptr;
}

int launch_dup_up_3d(const SpaceTimeKernelParams& p, void* stream) {
  if (video_params_error_dup_up(p)) return static_cast<int>(cudaErrorInvalidValue);
  const int64_t To = int64_t{p.T} * p.factor_t - p.drop_frames, Ho = int64_t{p.H} * p.factor_s,
                Wo = int64_t{p.W} * p.factor_s;
  const int64_t n = To * Ho * Wo * p.Cout;
  if (n == 0) return 0;
  const int repeats = static_cast<int>(int64_t{p.Cout} * p.factor_t * p.factor_s * p.factor_s / p.Cin);
  dup_up_3d_kernel<<<layout_blocks(n), kLayoutThreads, 0, static_cast<cudaStream_t>(stream)>>>(p, To, Ho, Wo,
                                                                                            repeats);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace wan::cuda
