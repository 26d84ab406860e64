#pragma once
// Portable flash-attention forward (sm_80+): mma.sync m16n8k16 bf16 with f32 accumulation,
// ldmatrix fragments, cp.async multi-stage K/V pipeline, online softmax in base 2.
//
// One CTA = kBlockM query rows of one (batch, head); each warp owns 16 rows and keeps its Q
// fragments in registers for the whole key loop. Per key tile: S = Q K^T (f32), mask, running
// max / sum update, P (bf16) V accumulated into O (f32). Nothing of size seq_q x seq_k is stored.
//
// Semantics the backend relies on:
//  - keys >= seq_k and keys with key_mask == 0 get probability 0;
//  - a query row whose keys are all masked (or seq_k == 0) produces 0 (not NaN): the running max
//    stays -inf, exponentials are taken against 0 instead, the row sum stays 0 and 1/0 is replaced
//    by 0 in the epilogue;
//  - columns >= head_dim of the padded head-dim tile are loaded as 0 and never stored.
#include <cmath>
#include <cstdint>

#include "flash_attention.h"
#include "flash_fwd_tiles.cuh"
#include "mma_primitives.cuh"

namespace wan::cuda::fa {

// Loads rows [0, rows_valid) x chunks [0, chunks_valid) of a row-major global tile into a swizzled
// shared tile of kRows rows; everything else is zero-filled.
template <class T, int kRows>
__device__ __forceinline__ void load_tile_async(uint32_t smem_base, const uint16_t* gbase,
                                                int64_t row_stride, int rows_valid,
                                                int chunks_valid) {
  constexpr int kItems = kRows * T::kChunks;
  constexpr int kIters = (kItems + T::kThreads - 1) / T::kThreads;
#pragma unroll
  for (int it = 0; it < kIters; ++it) {
    const int i = it * T::kThreads + static_cast<int>(threadIdx.x);
    if (kItems % T::kThreads != 0 && i >= kItems) break;
    const int r = i / T::kChunks, c = i % T::kChunks;
    const bool ok = r < rows_valid && c < chunks_valid;
    const uint16_t* src = ok ? gbase + r * row_stride + c * 8 : gbase;
    cp_async_16(smem_base + T::offset(r, c), src, ok ? 16 : 0);
  }
}

template <class T>
struct FlashFwdState {
  float o[T::kHeadDimPad / 8][4];  // O accumulator: 8-column tiles of rows (g, g+8)
  float m[2];                      // running max of the two rows, already times scale*log2(e)
  float l[2];                      // running sum of exp2, partial over this thread's columns
};

// S tile -> masked, exponentiated P (in place) and rescaled O/l. `masked_cols` is false on full
// tiles without a key mask, which skips the per-element predicate.
template <class T>
__device__ __forceinline__ void online_softmax(FlashFwdState<T>& st, float (&s)[T::kBlockN / 8][4],
                                               float scale_log2, bool check_cols, int key0,
                                               int seq_k, const int32_t* mask_row) {
  const int lane = threadIdx.x & 31;
  if (check_cols) {
#pragma unroll
    for (int nt = 0; nt < T::kBlockN / 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = key0 + nt * 8 + 2 * (lane & 3) + (e & 1);
        const bool keep = col < seq_k && (mask_row == nullptr || mask_row[col] != 0);
        if (!keep) s[nt][e] = -INFINITY;
      }
    }
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float mx = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < T::kBlockN / 8; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
    // the 4 threads of a quad hold the same two rows
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float m_new = fmaxf(st.m[r], mx * scale_log2);
    // all keys so far masked: subtract 0 so that exp2(-inf - 0) = 0 rather than NaN
    const float m_use = m_new == -INFINITY ? 0.f : m_new;
    const float alpha = exp2_approx(st.m[r] - m_use);
    st.m[r] = m_new;
    st.l[r] *= alpha;
#pragma unroll
    for (int dt = 0; dt < T::kHeadDimPad / 8; ++dt) {
      st.o[dt][2 * r] *= alpha;
      st.o[dt][2 * r + 1] *= alpha;
    }
    float sum = 0.f;
#pragma unroll
    for (int nt = 0; nt < T::kBlockN / 8; ++nt) {
#pragma unroll
      for (int e = 2 * r; e < 2 * r + 2; ++e) {
        const float p = exp2_approx(fmaf(s[nt][e], scale_log2, -m_use));
        s[nt][e] = p;
        sum += p;
      }
    }
    st.l[r] += sum;
  }
}

template <class T>
__device__ __forceinline__ void store_output(const FlashAttentionParams& p, FlashFwdState<T>& st,
                                             int b, int h, int q0) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float l = st.l[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const float inv = l > 0.f ? 1.f / l : 0.f;
    const int row = q0 + warp * 16 + (lane >> 2) + 8 * r;
    if (row >= p.seq_q) continue;
    const int64_t base =
        (static_cast<int64_t>(b) * p.seq_q + row) * p.out_row_stride + static_cast<int64_t>(h) * p.head_dim;
#pragma unroll
    for (int dt = 0; dt < T::kHeadDimPad / 8; ++dt) {
      if (dt * 8 >= p.head_dim) break;  // head_dim is a multiple of 8: whole tiles in or out
      const int col = dt * 8 + 2 * (lane & 3);
      float v0 = st.o[dt][2 * r] * inv, v1 = st.o[dt][2 * r + 1] * inv;
      if (p.out_f32) {
        float2* dst = reinterpret_cast<float2*>(static_cast<float*>(p.out) + base + col);
        if (p.accumulate) {
          const float2 old = *dst;
          v0 += old.x;
          v1 += old.y;
        }
        *dst = make_float2(v0, v1);
      } else {
        __nv_bfloat162* dst =
            reinterpret_cast<__nv_bfloat162*>(static_cast<__nv_bfloat16*>(p.out) + base + col);
        if (p.accumulate) {
          const float2 old = __bfloat1622float2(*dst);
          v0 += old.x;
          v1 += old.y;
        }
        *dst = __floats2bfloat162_rn(v0, v1);
      }
    }
  }
}

template <class T>
__global__ void __launch_bounds__(T::kThreads, 1) flash_fwd_kernel(const FlashAttentionParams p) {
  extern __shared__ __align__(128) uint8_t smem[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int q0 = blockIdx.x * T::kBlockM;
  const int h = blockIdx.y, b = blockIdx.z;
  const int64_t head_off = static_cast<int64_t>(h) * p.head_dim;
  const uint16_t* qg = p.q + (static_cast<int64_t>(b) * p.seq_q + q0) * p.q_row_stride + head_off;
  const uint16_t* kg = p.k + static_cast<int64_t>(b) * p.seq_k * p.k_row_stride + head_off;
  const uint16_t* vg = p.v + static_cast<int64_t>(b) * p.seq_k * p.v_row_stride + head_off;
  const int32_t* mask_row = p.key_mask ? p.key_mask + static_cast<int64_t>(b) * p.seq_k : nullptr;

  const uint32_t sQ = smem_addr(smem);
  const uint32_t sKV = sQ + T::kQBytes;
  const int chunks_valid = p.head_dim / 8;
  const int n_tiles = (p.seq_k + T::kBlockN - 1) / T::kBlockN;

  auto load_kv = [&](int tile) {
    const uint32_t sK = sKV + (tile % T::kStages) * T::kStageBytes;
    const int key0 = tile * T::kBlockN;
    const int rows = min(T::kBlockN, p.seq_k - key0);
    load_tile_async<T, T::kBlockN>(sK, kg + key0 * p.k_row_stride, p.k_row_stride, rows, chunks_valid);
    load_tile_async<T, T::kBlockN>(sK + T::kKVTileBytes, vg + key0 * p.v_row_stride, p.v_row_stride,
                                   rows, chunks_valid);
  };

  // Prologue: Q, then kStages-1 K/V tiles, one commit group each (empty groups keep the count).
  load_tile_async<T, T::kBlockM>(sQ, qg, p.q_row_stride, min(T::kBlockM, p.seq_q - q0), chunks_valid);
  cp_async_commit();
#pragma unroll
  for (int s = 0; s < T::kStages - 1; ++s) {
    if (s < n_tiles) load_kv(s);
    cp_async_commit();
  }
  cp_async_wait<T::kStages - 1>();
  __syncthreads();

  uint32_t qf[T::kHeadDimPad / 16][4];
#pragma unroll
  for (int ks = 0; ks < T::kHeadDimPad / 16; ++ks) {
    const int row = warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
    ldmatrix_x4(qf[ks], sQ + T::offset(row, ks * 2 + (lane >> 4)));
  }

  FlashFwdState<T> st;
#pragma unroll
  for (int dt = 0; dt < T::kHeadDimPad / 8; ++dt)
#pragma unroll
    for (int e = 0; e < 4; ++e) st.o[dt][e] = 0.f;
  st.m[0] = st.m[1] = -INFINITY;
  st.l[0] = st.l[1] = 0.f;
  const float scale_log2 = p.scale * 1.4426950408889634f;

  for (int j = 0; j < n_tiles; ++j) {
    cp_async_wait<T::kStages - 2>();
    // tile j has landed for every thread, and every warp is done reading tile j-1's stage,
    // which the prefetch below overwrites
    __syncthreads();
    if (j + T::kStages - 1 < n_tiles) load_kv(j + T::kStages - 1);
    cp_async_commit();

    const uint32_t sK = sKV + (j % T::kStages) * T::kStageBytes;
    const uint32_t sV = sK + T::kKVTileBytes;

    float s[T::kBlockN / 8][4];
#pragma unroll
    for (int nt = 0; nt < T::kBlockN / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[nt][e] = 0.f;
#pragma unroll
    for (int ks = 0; ks < T::kHeadDimPad / 16; ++ks) {
#pragma unroll
      for (int np = 0; np < T::kBlockN / 16; ++np) {
        uint32_t kb[4];
        const int row = np * 16 + (lane & 7) + (lane >> 4) * 8;
        ldmatrix_x4(kb, sK + T::offset(row, ks * 2 + ((lane >> 3) & 1)));
        mma_bf16_16816(s[2 * np], qf[ks], kb[0], kb[1]);
        mma_bf16_16816(s[2 * np + 1], qf[ks], kb[2], kb[3]);
      }
    }

    const int key0 = j * T::kBlockN;
    const bool check_cols = key0 + T::kBlockN > p.seq_k || mask_row != nullptr;
    online_softmax<T>(st, s, scale_log2, check_cols, key0, p.seq_k, mask_row);

#pragma unroll
    for (int kk = 0; kk < T::kBlockN / 16; ++kk) {
      // the C fragments of two adjacent 8-key tiles are exactly the A fragment of one k16 step
      const uint32_t pa[4] = {pack_bf16x2(s[2 * kk][0], s[2 * kk][1]),
                              pack_bf16x2(s[2 * kk][2], s[2 * kk][3]),
                              pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < T::kHeadDimPad / 16; ++dp) {
        uint32_t vb[4];
        const int row = kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
        ldmatrix_x4_trans(vb, sV + T::offset(row, dp * 2 + (lane >> 4)));
        mma_bf16_16816(st.o[2 * dp], pa, vb[0], vb[1]);
        mma_bf16_16816(st.o[2 * dp + 1], pa, vb[2], vb[3]);
      }
    }
  }
  cp_async_wait<0>();

  store_output<T>(p, st, b, h, q0);
}

}  // namespace wan::cuda::fa
