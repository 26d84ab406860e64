// Per-tensor e4m3 quantization of activation rows: an amax reduction (block max, then one atomicMax
// per block on the float's bits: non-negative floats order as their bit patterns do), then every
// element divided by s = amax / 448 and converted with the hardware's saturating round-to-nearest-even
// (__nv_cvt_float_to_fp8, __NV_SATFINITE: an out-of-range value becomes +-448, not NaN).
#include <cuda_fp8.h>

#include "cuda/kernels/device_math.cuh"
#include "cuda/kernels/quant_fp8.h"

namespace wan::cuda {

namespace {

constexpr int kThreads = 256;
constexpr float kE4m3Max = 448.0f;

__global__ void amax_kernel(QuantFp8Params p) {
  const int64_t total = p.rows * p.cols;
  float m = 0.0f;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = t / p.cols, c = t - r * p.cols;
    m = fmaxf(m, fabsf(p.src[r * p.src_ld + c]));  // fmaxf drops a NaN operand
  }
  m = warp_max(m);
  __shared__ float partial[kThreads / 32];
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = m;
  __syncthreads();
  if (threadIdx.x < 32) {
    m = threadIdx.x < kThreads / 32 ? partial[threadIdx.x] : 0.0f;
    m = warp_max(m);
    if (threadIdx.x == 0) atomicMax(p.amax, __float_as_uint(m));
  }
}

// s = amax / 448; an all-zero input keeps s = 1 (every q is 0 either way, and 0 * s stays finite).
// A nonzero amax below 448 x 2^-149 would round s to 0 and every q to 0/0: s is held at the
// smallest normal float, where |x| / s stays within e4m3's range.
__device__ __forceinline__ float act_scale(const unsigned int* amax) {
  const float a = __uint_as_float(*amax);
  return a > 0.0f ? fmaxf(a / kE4m3Max, 1.17549435e-38f) : 1.0f;
}

__global__ void quantize_kernel(QuantFp8Params p) {
  const float s = act_scale(p.amax);
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    p.scales[0] = s;
    p.scales[1] = p.weight_scale;
  }
  const int64_t total = p.rows * p.cols;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = t / p.cols, c = t - r * p.cols;
    // Division, not a multiply by 448 / amax: one rounding before the conversion's.
    const float v = p.src[r * p.src_ld + c] / s;
    p.dst[r * p.dst_ld + c] = static_cast<uint8_t>(__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3));
  }
}

}  // namespace

void launch_quant_fp8(const QuantFp8Params& p, cudaStream_t s) {
  cudaMemsetAsync(p.amax, 0, sizeof(unsigned int), s);
  const int64_t total = p.rows * p.cols;
  // A grid of at most a few blocks per SM's worth keeps the atomics few; the loop covers the rest.
  amax_kernel<<<grid_for(total, kThreads, 1024), kThreads, 0, s>>>(p);
  quantize_kernel<<<grid_for(total, kThreads), kThreads, 0, s>>>(p);
}

}  // namespace wan::cuda
