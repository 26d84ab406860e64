#pragma once
// Small device helpers shared by the backend's kernels.
#include <cuda_bf16.h>

#include <cstdint>

#include "cuda/kernels/act.h"

namespace wan::cuda {

// Accurate forms, not the fast intrinsics: the CPU backend is the reference these are held to.
__device__ __forceinline__ float apply_act(float x, Act act) {
  switch (act) {
    case Act::GeluTanh: {
      const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + tanhf(u));
    }
    case Act::GeluErf: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case Act::Silu: return x / (1.0f + expf(-x));
    default: return x;
  }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ __forceinline__ float bf16_bits_to_float(uint16_t b) {
  return __uint_as_float(static_cast<uint32_t>(b) << 16);
}

// Blocks for n elements at `threads` per block with each thread striding over the rest; capped so
// the grid stays within limits for any n.
inline unsigned grid_for(int64_t n, int threads, int64_t cap = 65535 * 8) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks > cap) blocks = cap;
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned>(blocks);
}

}  // namespace wan::cuda
