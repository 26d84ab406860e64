// One warp per row: the rows of these models are 96..5120 wide, a warp's 32 lanes stride across
// them and reduce with shuffles, with no shared memory and no block-wide barrier. Statistics are
// two-pass (mean, then squared deviations) in float, as close to the CPU backend's double
// accumulation as float allows (about 1e-7 relative at these widths).
#include "cuda/kernels/device_math.cuh"
#include "cuda/kernels/norms.h"

namespace wan::cuda {

namespace {

constexpr int kWarpsPerBlock = 8;

__global__ void row_norm_kernel(RowNormParams p) {
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (row >= p.rows) return;
  const float* x = p.x + row * p.n;
  float* y = p.y + row * p.n;
  const int64_t n = p.n;

  if (p.kind == NormKind::Layer || p.kind == NormKind::LayerModulated) {
    float s = 0.0f;
    for (int64_t i = lane; i < n; i += 32) s += x[i];
    const float mean = warp_sum(s) / static_cast<float>(n);
    float ss = 0.0f;
    for (int64_t i = lane; i < n; i += 32) {
      const float d = x[i] - mean;
      ss += d * d;
    }
    const float rstd = rsqrtf(warp_sum(ss) / static_cast<float>(n) + p.eps);
    if (p.kind == NormKind::Layer) {
      for (int64_t i = lane; i < n; i += 32) {
        float v = (x[i] - mean) * rstd;
        if (p.gamma) v *= p.gamma[i];
        if (p.beta) v += p.beta[i];
        y[i] = v;
      }
    } else {
      const float* mod = p.mod_rows + static_cast<int64_t>(p.row_of_token[row]) * p.chunks * n;
      const float* shift = mod + p.shift_chunk * n;
      const float* scale = mod + p.scale_chunk * n;
      for (int64_t i = lane; i < n; i += 32) y[i] = (x[i] - mean) * rstd * (1.0f + scale[i]) + shift[i];
    }
    return;
  }

  float ss = 0.0f;
  for (int64_t i = lane; i < n; i += 32) ss += x[i] * x[i];
  ss = warp_sum(ss);
  if (p.kind == NormKind::Rms) {
    const float rstd = rsqrtf(ss / static_cast<float>(n) + p.eps);
    for (int64_t i = lane; i < n; i += 32) y[i] = x[i] * rstd * p.gamma[i];
  } else {
    const float s = sqrtf(static_cast<float>(n)) / fmaxf(sqrtf(ss), 1e-12f);
    for (int64_t i = lane; i < n; i += 32) y[i] = apply_act(x[i] * s * p.gamma[i], p.act);
  }
}

// A lane owns whole pairs (2j, 2j + 1), so the rotation needs no exchange between lanes and each
// lane writes only what it read: in place is safe. The pairs are read twice (sum of squares, then
// the output), the second time from L1/L2.
__global__ void rms_norm_rope_kernel(RmsNormRopeParams p) {
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (row >= p.rows) return;
  const float2* x = reinterpret_cast<const float2*>(p.x + row * p.x_ld);
  float2* y = reinterpret_cast<float2*>(p.y + row * p.y_ld);
  const float2* g = reinterpret_cast<const float2*>(p.gamma);
  const int64_t pairs = p.n / 2, half = p.head_dim / 2;
  float ss = 0.0f;
  for (int64_t j = lane; j < pairs; j += 32) {
    const float2 v = x[j];
    ss += v.x * v.x;
    ss += v.y * v.y;
  }
  const float rstd = rsqrtf(warp_sum(ss) / static_cast<float>(p.n) + p.eps);
  const float* cr = p.cos + (row % p.S) * half;
  const float* sr = p.sin + (row % p.S) * half;
  for (int64_t j = lane; j < pairs; j += 32) {
    const float2 v = x[j], w = g[j];
    const float a = v.x * rstd * w.x, b = v.y * rstd * w.y;
    const int64_t k = j % half;
    const float c = cr[k], s = sr[k];
    y[j] = make_float2(a * c - b * s, a * s + b * c);
  }
}

}  // namespace

void launch_rms_norm_rope(const RmsNormRopeParams& p, cudaStream_t s) {
  if (p.rows == 0 || p.n == 0) return;
  const int64_t blocks = (p.rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  rms_norm_rope_kernel<<<static_cast<unsigned>(blocks), kWarpsPerBlock * 32, 0, s>>>(p);
}

void launch_row_norm(const RowNormParams& p, cudaStream_t s) {
  if (p.rows == 0 || p.n == 0) return;
  const int64_t blocks = (p.rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  row_norm_kernel<<<static_cast<unsigned>(blocks), kWarpsPerBlock * 32, 0, s>>>(p);
}

}  // namespace wan::cuda
