// Elementwise kernels: grid-stride loops over int64 indices (tensors past 2^31 elements exist:
// a 14B block's FFN activations at 720p are 75600 x 13824).
#include <cuda_bf16.h>

#include "cuda/kernels/device_math.cuh"
#include "cuda/kernels/elementwise.h"

namespace wan::cuda {

namespace {

constexpr int kThreads = 256;

#define WAN_GRID_STRIDE(i, n)                                                                        \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);             \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

__global__ void add_gated_kernel(AddGatedParams p) {
  const int64_t total = p.rows * p.n;
  WAN_GRID_STRIDE(i, total) {
    const float y = p.y[i];
    if (p.mod_rows) {
      const int64_t r = i / p.n, c = i - r * p.n;
      const int64_t row = static_cast<int64_t>(p.row_of_token[r]) * p.chunks + p.gate_chunk;
      p.x[i] += y * p.mod_rows[row * p.n + c];
    } else {
      p.x[i] += y;
    }
  }
}

__global__ void bias_act_kernel(BiasActParams p) {
  WAN_GRID_STRIDE(i, p.count) {
    float v = p.x[i];
    if (p.bias) v += p.bias[i % p.n];
    p.y[i] = apply_act(v, p.act);
  }
}

__global__ void modulation_rows_kernel(ModulationRowsParams p) {
  const int64_t total = p.R * p.C * p.dim;
  WAN_GRID_STRIDE(i, total) {
    const int64_t d = i % p.dim, rc = i / p.dim, c = rc % p.C, r = rc / p.C;
    p.out[i] = p.table[c * p.dim + d] + p.rows[p.chunked ? i : r * p.dim + d];
  }
}

__global__ void add_periodic_kernel(AddPeriodicParams p) {
  WAN_GRID_STRIDE(i, p.count) p.x[i] += p.pos[i % p.period];
}

__global__ void combine_kernel(CombineParams p) {
  WAN_GRID_STRIDE(i, p.count) {
    // Double, as the CPU backend: schedulers combine terms of very different sizes.
    double acc = 0.0;
    for (int t = 0; t < p.terms; ++t) acc += static_cast<double>(p.coeff[t]) * p.term[t][i];
    p.out[i] = static_cast<float>(acc);
  }
}

__device__ __forceinline__ uint16_t float_to_bf16_rne(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

__global__ void add_to_weight_kernel(AddToWeightParams p) {
  WAN_GRID_STRIDE(i, p.count) {
    if (p.w_bf16) {
      uint16_t* w = static_cast<uint16_t*>(p.w);
      w[i] = float_to_bf16_rne(bf16_bits_to_float(w[i]) + p.scale * p.delta[i]);
    } else {
      float* w = static_cast<float*>(p.w);
      w[i] += p.scale * p.delta[i];
    }
  }
}

__global__ void abs_diff_sum_kernel(AbsDiffSumParams p) {
  double acc = 0.0;
  WAN_GRID_STRIDE(i, p.count) acc += fabs(static_cast<double>(p.a[i]) - (p.b ? static_cast<double>(p.b[i]) : 0.0));
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if ((threadIdx.x & 31) == 0) atomicAdd(p.sum, acc);
}

__global__ void multiply_kernel(MultiplyParams p) {
  WAN_GRID_STRIDE(i, p.count) p.x[i] *= p.y[i];
}

__global__ void embedding_kernel(EmbeddingParams p) {
  const int64_t total = p.count * p.dim;
  WAN_GRID_STRIDE(i, total) {
    const int64_t n = i / p.dim, d = i - n * p.dim;
    const int64_t src = static_cast<int64_t>(p.ids[n]) * p.dim + d;
    p.out[i] = p.table_bf16 ? bf16_bits_to_float(static_cast<const uint16_t*>(p.table)[src])
                            : static_cast<const float*>(p.table)[src];
  }
}

__global__ void timestep_embedding_kernel(TimestepEmbeddingParams p) {
  const int64_t half = p.dim / 2, total = p.R * half;
  WAN_GRID_STRIDE(i, total) {
    const int64_t r = i / half, k = i - r * half;
    // The reference's float32 steps, each rounded as the CPU backend rounds them: the exponent in
    // float, exp rounded once from double (what glibc's expf returns), the product in float, and
    // cos/sin evaluated in double and rounded once.
    const float neg_log_period = -9.210340371976184f;  // (float)-log(10000)
    const float exponent = __fdiv_rn(__fmul_rn(neg_log_period, static_cast<float>(k)), static_cast<float>(half));
    const float freq = static_cast<float>(exp(static_cast<double>(exponent)));
    const float arg = __fmul_rn(p.t[r], freq);
    p.y[r * p.dim + k] = static_cast<float>(cos(static_cast<double>(arg)));
    p.y[r * p.dim + half + k] = static_cast<float>(sin(static_cast<double>(arg)));
  }
}

__global__ void rope_kernel(RopeParams p) {
  const int64_t half = p.head_dim / 2, per_row = static_cast<int64_t>(p.heads) * half, total = p.rows * per_row;
  WAN_GRID_STRIDE(i, total) {
    const int64_t r = i / per_row, rest = i - r * per_row, h = rest / half, k = rest - h * half;
    const int64_t pos = r % p.S;
    const float c = p.cos[pos * half + k], s = p.sin[pos * half + k];
    float* v = p.x + r * p.heads * p.head_dim + h * p.head_dim + 2 * k;
    const float a = v[0], b = v[1];
    v[0] = a * c - b * s;
    v[1] = a * s + b * c;
  }
}

// Both reshapes walk the patch-major side [B, S, P*C] and index the channels-first side.
template <bool kToPatches>
__global__ void patch_kernel(PatchParamsDev p) {
  const int64_t Fp = p.F / p.pt, Hp = p.H / p.ph, Wp = p.W / p.pw;
  const int64_t P = static_cast<int64_t>(p.pt) * p.ph * p.pw, inner = P * p.C;
  const int64_t total = p.B * Fp * Hp * Wp * inner;
  WAN_GRID_STRIDE(i, total) {
    const int64_t token = i / inner, j = i - token * inner;
    int64_t c, kt, kh, kw;
    if (kToPatches) {  // (c, kt, kh, kw)
      c = j / P;
      const int64_t q = j - c * P;
      kt = q / (p.ph * p.pw);
      kh = (q / p.pw) % p.ph;
      kw = q % p.pw;
    } else {  // (kt, kh, kw, c)
      c = j % p.C;
      const int64_t q = j / p.C;
      kt = q / (p.ph * p.pw);
      kh = (q / p.pw) % p.ph;
      kw = q % p.pw;
    }
    const int64_t w = token % Wp, h = (token / Wp) % Hp, f = (token / (Wp * Hp)) % Fp, b = token / (Wp * Hp * Fp);
    const int64_t x_index = (((b * p.C + c) * p.F + f * p.pt + kt) * p.H + h * p.ph + kh) * p.W + w * p.pw + kw;
    if (kToPatches)
      p.dst[i] = p.src[x_index];
    else
      p.dst[x_index] = p.src[i];
  }
}

__global__ void to_bf16_kernel(ToBf16Params p) {
  const int64_t total = p.rows * p.dst_ld;
  WAN_GRID_STRIDE(i, total) {
    const int64_t r = i / p.dst_ld, c = i - r * p.dst_ld;
    __nv_bfloat16 v = __float2bfloat16_rn(0.0f);
    if (c < p.cols) {
      if (p.src_bf16) {
        p.dst[i] = static_cast<const uint16_t*>(p.src)[r * p.src_ld + c];
        continue;
      }
      v = __float2bfloat16_rn(static_cast<const float*>(p.src)[r * p.src_ld + c]);
    }
    p.dst[i] = __bfloat16_as_ushort(v);
  }
}

}  // namespace

void launch_add_gated(const AddGatedParams& p, cudaStream_t s) {
  if (p.rows * p.n == 0) return;
  add_gated_kernel<<<grid_for(p.rows * p.n, kThreads), kThreads, 0, s>>>(p);
}

void launch_bias_act(const BiasActParams& p, cudaStream_t s) {
  if (p.count == 0) return;
  bias_act_kernel<<<grid_for(p.count, kThreads), kThreads, 0, s>>>(p);
}

void launch_modulation_rows(const ModulationRowsParams& p, cudaStream_t s) {
  const int64_t n = p.R * p.C * p.dim;
  if (n == 0) return;
  modulation_rows_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(p);
}

void launch_add_periodic(const AddPeriodicParams& p, cudaStream_t s) {
  if (p.count == 0) return;
  add_periodic_kernel<<<grid_for(p.count, kThreads), kThreads, 0, s>>>(p);
}

void launch_linear_combination(const CombineParams& p, cudaStream_t s) {
  if (p.count == 0) return;
  combine_kernel<<<grid_for(p.count, kThreads), kThreads, 0, s>>>(p);
}

void launch_add_to_weight(const AddToWeightParams& p, cudaStream_t s) {
  if (p.count == 0) return;
  add_to_weight_kernel<<<grid_for(p.count, kThreads), kThreads, 0, s>>>(p);
}

void launch_abs_diff_sum(const AbsDiffSumParams& p, cudaStream_t s) {
  if (p.count == 0) return;
  // Fewer blocks than one per element: each thread sums a stretch first, then one atomic per warp.
  abs_diff_sum_kernel<<<grid_for(p.count, kThreads, 1024), kThreads, 0, s>>>(p);
}

void launch_multiply(const MultiplyParams& p, cudaStream_t s) {
  if (p.count == 0) return;
  multiply_kernel<<<grid_for(p.count, kThreads), kThreads, 0, s>>>(p);
}

void launch_embedding(const EmbeddingParams& p, cudaStream_t s) {
  if (p.count * p.dim == 0) return;
  embedding_kernel<<<grid_for(p.count * p.dim, kThreads), kThreads, 0, s>>>(p);
}

void launch_timestep_embedding(const TimestepEmbeddingParams& p, cudaStream_t s) {
  if (p.R * (p.dim / 2) == 0) return;
  timestep_embedding_kernel<<<grid_for(p.R * (p.dim / 2), kThreads), kThreads, 0, s>>>(p);
}

void launch_rope(const RopeParams& p, cudaStream_t s) {
  const int64_t n = p.rows * p.heads * (p.head_dim / 2);
  if (n == 0) return;
  rope_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(p);
}

void launch_patchify(const PatchParamsDev& p, cudaStream_t s) {
  const int64_t n = p.B * p.C * p.F * p.H * p.W;
  if (n == 0) return;
  patch_kernel<true><<<grid_for(n, kThreads), kThreads, 0, s>>>(p);
}

void launch_unpatchify(const PatchParamsDev& p, cudaStream_t s) {
  const int64_t n = p.B * p.C * p.F * p.H * p.W;
  if (n == 0) return;
  patch_kernel<false><<<grid_for(n, kThreads), kThreads, 0, s>>>(p);
}

void launch_to_bf16(const ToBf16Params& p, cudaStream_t s) {
  if (p.rows * p.dst_ld == 0) return;
  to_bf16_kernel<<<grid_for(p.rows * p.dst_ld, kThreads), kThreads, 0, s>>>(p);
}

}  // namespace wan::cuda
