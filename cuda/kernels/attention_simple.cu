// A 64x64-tile SIMT float32 GEMM (16x16 threads, 4x4 outputs each) batched over (batch, head)
// with strided operands, and a warp-per-row softmax. Plain and correct first: this path serves
// the head sizes and features (relative bias) the flash kernels do not take.
#include <cfloat>

#include "cuda/kernels/attention_simple.h"
#include "cuda/kernels/device_math.cuh"

namespace wan::cuda {

namespace {

constexpr int kT = 64, kKT = 16;

__global__ void __launch_bounds__(256) batched_gemm_f32_kernel(BatchedGemmF32Params p) {
  __shared__ float As[kKT][kT + 4];  // [k][m]
  __shared__ float Bs[kKT][kT + 4];  // [k][n]
  const int z = blockIdx.z, outer = z / p.inner_count, inner = z - outer * p.inner_count;
  const float* A = p.a + outer * p.a_outer + inner * p.a_inner;
  const float* B = p.b + outer * p.b_outer + inner * p.b_inner;
  float* C = p.c + outer * p.c_outer + inner * p.c_inner;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kT, n0 = static_cast<int64_t>(blockIdx.x) * kT;
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < p.K; k0 += kKT) {
    // 1024 elements of each tile, 4 per thread.
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int e = threadIdx.x + i * 256;
      {  // A: [m][k], k fastest in memory
        const int mm = e / kKT, kk = e % kKT;
        const int64_t gm = m0 + mm, gk = k0 + kk;
        As[kk][mm] = (gm < p.M && gk < p.K) ? A[gm * p.lda + gk] : 0.0f;
      }
      if (p.trans_b) {  // B: [n][k]
        const int nn = e / kKT, kk = e % kKT;
        const int64_t gn = n0 + nn, gk = k0 + kk;
        Bs[kk][nn] = (gn < p.N && gk < p.K) ? B[gn * p.ldb + gk] : 0.0f;
      } else {  // B: [k][n]
        const int kk = e / kT, nn = e % kT;
        const int64_t gn = n0 + nn, gk = k0 + kk;
        Bs[kk][nn] = (gn < p.N && gk < p.K) ? B[gk * p.ldb + gn] : 0.0f;
      }
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kKT; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t gm = m0 + ty + 16 * i;
    if (gm >= p.M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t gn = n0 + tx + 16 * j;
      if (gn >= p.N) continue;
      float* c = C + gm * p.ldc + gn;
      *c = p.beta == 0.0f ? p.alpha * acc[i][j] : p.alpha * acc[i][j] + p.beta * *c;
    }
  }
}

constexpr int kWarps = 8;

__global__ void scores_softmax_kernel(ScoresSoftmaxParams p) {
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  const int64_t total = static_cast<int64_t>(p.batch) * p.heads * p.rows;
  if (row >= total) return;
  const int64_t z = row / p.rows, r = row - z * p.rows;
  const int b = static_cast<int>(z / p.heads), h = static_cast<int>(z % p.heads);
  float* s = p.scores + row * p.Sk;
  const int32_t* bucket = p.buckets ? p.buckets + (p.q0 + r) * p.Sk : nullptr;
  const int32_t* mask = p.key_mask ? p.key_mask + static_cast<int64_t>(b) * p.Sk : nullptr;
  float m = -FLT_MAX;
  for (int64_t j = lane; j < p.Sk; j += 32) {
    float v = s[j];
    if (bucket) {
      const int64_t at = static_cast<int64_t>(bucket[j]) * p.heads + h;
      v += p.bias_table ? p.bias_table[at] : bf16_bits_to_float(p.bias_table_bf16[at]);
    }
    // The reference adds float's lowest to masked scores: they vanish unless every key is masked.
    if (mask && !mask[j]) v = -FLT_MAX;
    s[j] = v;
    m = fmaxf(m, v);
  }
  m = warp_max(m);
  float sum = 0.0f;
  for (int64_t j = lane; j < p.Sk; j += 32) {
    const float e = expf(s[j] - m);
    s[j] = e;
    sum += e;
  }
  const float inv = 1.0f / warp_sum(sum);
  for (int64_t j = lane; j < p.Sk; j += 32) s[j] *= inv;
}

}  // namespace

void launch_batched_gemm_f32(const BatchedGemmF32Params& p, cudaStream_t s) {
  if (p.M == 0 || p.N == 0) return;
  const dim3 grid(static_cast<unsigned>((p.N + kT - 1) / kT), static_cast<unsigned>((p.M + kT - 1) / kT),
                  static_cast<unsigned>(p.outer_count * p.inner_count));
  batched_gemm_f32_kernel<<<grid, 256, 0, s>>>(p);
}

void launch_scores_softmax(const ScoresSoftmaxParams& p, cudaStream_t s) {
  const int64_t total = static_cast<int64_t>(p.batch) * p.heads * p.rows;
  if (total == 0 || p.Sk == 0) return;
  scores_softmax_kernel<<<static_cast<unsigned>((total + kWarps - 1) / kWarps), kWarps * 32, 0, s>>>(p);
}

}  // namespace wan::cuda
