#pragma once
// The per-thread arithmetic of the Hopper attention's consumer warpgroups (hopper_fwd_kernel.cuh):
// masking, the online softmax in base 2, O rescaling, packing P into A fragments, the epilogue's
// normalisation. __host__ __device__: tests/hopper_emulation_test.cpp runs these on the host for
// all 128 threads of a warpgroup, with the quad reductions and the wgmma products emulated.
//
// A thread holds two query rows (lane/4 and lane/4 + 8 of its warp's 16) of every accumulator: S
// (kN/2 registers for a tile of kN keys) and O (kD/2 registers). The quad (4 lanes) sharing a row
// reduces max and sum with shuffles between the phases below.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "hopper_layout.cuh"

namespace wan::cuda::hopper {

// ---- Numeric primitives: the device instruction, or its model on the host.

// 2^x; ex2.approx(-inf) = +0, which masked keys rely on.
WAN_HD float exp2_fast(float x) {
#if defined(__CUDA_ARCH__)
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
#else
  return std::exp2(x);
#endif
}

inline uint16_t bf16_bits_host(float f) {  // round to nearest even (finite inputs)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// e4m3 (OCP "fn": no infinities, max 448), round to nearest even, saturating to +-448.
inline uint8_t e4m3_bits_host(float x) {
  if (std::isnan(x)) return 0x7f;
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  const float a = std::fabs(x);
  if (a >= kE4m3Max) return sign | 0x7e;
  if (a < 0.015625f) {  // below 2^-6: subnormal steps of 2^-9 (8 rounds up to the smallest normal)
    const int q = static_cast<int>(std::nearbyint(a * 512.f));
    return sign | static_cast<uint8_t>(q);
  }
  int e = static_cast<int>(std::floor(std::log2(a)));
  float m = a / std::ldexp(1.f, e);  // [1, 2)
  if (m >= 2.f) { m *= 0.5f; ++e; }
  if (m < 1.f) { m *= 2.f; --e; }
  int q = static_cast<int>(std::nearbyint((m - 1.f) * 8.f));
  if (q == 8) { q = 0; ++e; }
  return sign | static_cast<uint8_t>(((e + 7) << 3) | q);
}
inline float e4m3_value_host(uint8_t b) {
  const float sign = (b & 0x80) ? -1.f : 1.f;
  const int e = (b >> 3) & 15, m = b & 7;
  if (e == 15 && m == 7) return NAN;
  if (e == 0) return sign * std::ldexp(static_cast<float>(m), -9);
  return sign * std::ldexp(1.f + m / 8.f, e - 7);
}

// (lo, hi) -> bf16x2 with `lo` in the low half.
WAN_HD uint32_t pack_bf16x2(float lo, float hi) {
#if defined(__CUDA_ARCH__)
  uint32_t d;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(d) : "f"(hi), "f"(lo));
  return d;
#else
  return static_cast<uint32_t>(bf16_bits_host(lo)) | (static_cast<uint32_t>(bf16_bits_host(hi)) << 16);
#endif
}

// Four floats -> four e4m3 bytes, `a` in the lowest byte.
WAN_HD uint32_t pack_e4m3x4(float a, float b, float c, float d) {
#if defined(__CUDA_ARCH__)
  uint16_t lo, hi;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;\n" : "=h"(lo) : "f"(b), "f"(a));
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;\n" : "=h"(hi) : "f"(d), "f"(c));
  return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
#else
  return static_cast<uint32_t>(e4m3_bits_host(a)) | (static_cast<uint32_t>(e4m3_bits_host(b)) << 8) |
         (static_cast<uint32_t>(e4m3_bits_host(c)) << 16) | (static_cast<uint32_t>(e4m3_bits_host(d)) << 24);
#endif
}

// ---- The online softmax of one thread's two rows.
struct RowState {
  float m[2];  // running max of score·scale·log2(e); -inf while every key so far was masked
  float l[2];  // running sum of exp2 over this thread's columns (the quad sums them at the end)
};

WAN_HD void init_rows(RowState& st) {
  st.m[0] = st.m[1] = -INFINITY;
  st.l[0] = st.l[1] = 0.f;
}

// Keys >= seq_k and keys with key_mask == 0 get -inf (tile starting at key `key0`).
template <int kN>
WAN_HD void mask_tile(float (&s)[kN / 2], int lane, int key0, int seq_k, const int32_t* mask_row) {
#pragma unroll
  for (int i = 0; i < kN / 2; ++i) {
    const int col = key0 + acc_col(lane, i);
    const bool keep = col < seq_k && (mask_row == nullptr || mask_row[col] != 0);
    if (!keep) s[i] = -INFINITY;
  }
}

// Phase 1: this thread's maximum of each row (the caller reduces it over the quad).
template <int kN>
WAN_HD void row_max(const float (&s)[kN / 2], float (&mx)[2]) {
  mx[0] = mx[1] = -INFINITY;
#pragma unroll
  for (int i = 0; i < kN / 2; ++i) mx[(i >> 1) & 1] = fmaxf(mx[(i >> 1) & 1], s[i]);
}

// Phase 2, with `mx` the quad's row maxima: the new running max, the factor `alpha` that rescales
// what was accumulated so far, S exponentiated in place into P, and the row sums.
// P = 2^(s·scale_log2 - m + p_log2_offset): the fp8 path lifts P by 2^8 into [0, 256] so that
// small probabilities stay normal e4m3 numbers; O and l carry the same factor, which cancels.
template <int kN>
WAN_HD void exp_tile(float (&s)[kN / 2], const float (&mx)[2], float scale_log2, float p_log2_offset,
                     RowState& st, float (&alpha)[2]) {
  float neg_max[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float m_new = fmaxf(st.m[r], mx[r] * scale_log2);
    // every key so far masked: subtract 0 so that exp2(-inf - 0) = 0 rather than NaN
    const float m_use = m_new == -INFINITY ? 0.f : m_new;
    alpha[r] = exp2_fast(st.m[r] - m_use);
    st.m[r] = m_new;
    neg_max[r] = p_log2_offset - m_use;
  }
  float sum[2] = {0.f, 0.f};
#pragma unroll
  for (int i = 0; i < kN / 2; ++i) {
    const int r = (i >> 1) & 1;
    const float p = exp2_fast(fmaf(s[i], scale_log2, neg_max[r]));
    s[i] = p;
    sum[r] += p;
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) st.l[r] = fmaf(st.l[r], alpha[r], sum[r]);
}

// O rows times their factor (accumulator register i belongs to row (i/2) % 2).
template <int kD>
WAN_HD void rescale_o(float (&o)[kD / 2], float a0, float a1) {
#pragma unroll
  for (int i = 0; i < kD / 2; ++i) o[i] *= ((i >> 1) & 1) ? a1 : a0;
}

template <int kN>
WAN_HD void pack_p_bf16(const float (&s)[kN / 2], uint32_t (&pa)[kN / 4]) {
#pragma unroll
  for (int u = 0; u < kN / 4; ++u) pa[u] = pack_bf16x2(s[2 * u], s[2 * u + 1]);
}

template <int kN>
WAN_HD void pack_p_e4m3(const float (&s)[kN / 2], uint32_t (&pa)[kN / 8]) {
#pragma unroll
  for (int t = 0; t < kN / 32; ++t)
#pragma unroll
    for (int u = 0; u < 4; ++u)
      pa[4 * t + u] = pack_e4m3x4(s[e4m3_p_source(t, u, 0)], s[e4m3_p_source(t, u, 1)],
                                  s[e4m3_p_source(t, u, 2)], s[e4m3_p_source(t, u, 3)]);
}

// Epilogue factor of row r once the quad summed l: 1/l, and 0 for a row without an attended key.
WAN_HD float final_factor(float l_row, float extra) { return l_row > 0.f ? extra / l_row : 0.f; }

}  // namespace wan::cuda::hopper
