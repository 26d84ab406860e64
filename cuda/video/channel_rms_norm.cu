// The Wan VAE's RMS norm over the channels of each pixel, with the SiLU that follows it in every
// residual block and head fused in: one warp per pixel row (C is 96..1024 in the VAE, a row is one
// to eight 128-byte lines per lane group), a shuffle reduction, then a second pass over the same
// row, which is still in L1, to scale and write. y may alias x: every lane reads an element before
// it writes that same element, and rows are disjoint.
#include <climits>
#include <cmath>
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "cuda/video/video_kernels.h"

namespace wan::cuda {
namespace video_detail {

constexpr int kNormWarps = 8;

// F.normalize's lower bound on the norm: an all-zero pixel stays zero instead of becoming NaN.
constexpr float kMinNorm = 1e-12f;

__device__ __forceinline__ float gamma_at(const ChannelRmsNormKernelParams& p, int c) {
  return p.gamma_f32 ? p.gamma_f32[c] : __bfloat162float(__ushort_as_bfloat16(p.gamma_bf16[c]));
}

__device__ __forceinline__ float finish(float v, bool silu) { return silu ? v / (1.0f + expf(-v)) : v; }

// VEC4: C % 4 == 0 and x, y 16-byte aligned, so a row is whole float4s.
template <bool VEC4>
__global__ void __launch_bounds__(kNormWarps * 32) channel_rms_norm_kernel(const ChannelRmsNormKernelParams p,
                                                                           float root_c) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kNormWarps + threadIdx.x / 32;
  if (row >= p.rows) return;
  const int lane = threadIdx.x % 32, C = p.C;
  const float* xr = p.x + row * C;
  float* yr = p.y + row * C;

  float ss = 0.0f;
  if constexpr (VEC4) {
    for (int c4 = lane; c4 < C / 4; c4 += 32) {
      const float4 v = reinterpret_cast<const float4*>(xr)[c4];
      ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
  } else {
    for (int c = lane; c < C; c += 32) ss += xr[c] * xr[c];
  }
#pragma unroll
  for (int off = 16; off > 0; off /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, off);
  const float s = root_c / fmaxf(sqrtf(ss), kMinNorm);

  if constexpr (VEC4) {
    for (int c4 = lane; c4 < C / 4; c4 += 32) {
      const float4 v = reinterpret_cast<const float4*>(xr)[c4];
      const int c = 4 * c4;
      float4 o;
      o.x = finish(v.x * s * gamma_at(p, c), p.silu);
      o.y = finish(v.y * s * gamma_at(p, c + 1), p.silu);
      o.z = finish(v.z * s * gamma_at(p, c + 2), p.silu);
      o.w = finish(v.w * s * gamma_at(p, c + 3), p.silu);
      reinterpret_cast<float4*>(yr)[c4] = o;
    }
  } else {
    for (int c = lane; c < C; c += 32) yr[c] = finish(xr[c] * s * gamma_at(p, c), p.silu);
  }
}

}  // namespace video_detail

const char* video_params_error(const ChannelRmsNormKernelParams& p) {
  if (p.C <= 0 || p.rows < 0) return "channel_rms_norm: C must be > 0 and rows >= 0";
  if (p.rows > int64_t{INT_MAX} * video_detail::kNormWarps) return "channel_rms_norm: too many rows";
  if (p.rows > 0 && (!p.x || !p.y)) return "channel_rms_norm: x or y is null";
  if (!p.gamma_f32 == !p.gamma_bf16) return "channel_rms_norm: give exactly one of gamma_f32, gamma_bf16";
  return nullptr;
}

int launch_channel_rms_norm(const ChannelRmsNormKernelParams& p, void* stream) {
  using namespace video_detail;
  if (video_params_error(p)) return static_cast<int>(cudaErrorInvalidValue);
  if (p.rows == 0) return 0;
  const unsigned blocks = static_cast<unsigned>((p.rows + kNormWarps - 1) / kNormWarps);
  const float root_c = static_cast<float>(std::sqrt(static_cast<double>(p.C)));
  auto s = static_cast<cudaStream_t>(stream);
  const bool vec4 = p.C % 4 == 0 && reinterpret_cast<uintptr_t>(p.x) % 16 == 0 &&
                    reinterpret_cast<uintptr_t>(p.y) % 16 == 0;
  if (vec4)
    channel_rms_norm_kernel<true><<<blocks, kNormWarps * 32, 0, s>>>(p, root_c);
  else
    channel_rms_norm_kernel<false><<<blocks, kNormWarps * 32, 0, s>>>(p, root_c);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace wan::cuda
