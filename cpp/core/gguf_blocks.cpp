// The block layouts are ggml's (ggml-common.h); the arithmetic follows ggml's reference
// dequantize_row_* in ggml-quants.c, operation for operation, in float32.
#include "core/gguf_blocks.h"

#include <cstring>

#include "core/dtype_convert.h"
#include "core/error.h"

// Bit-exact with ggml means no fused multiply-adds: `d1 * q - m1` must round twice, as ggml's
// reference C and gguf-py compute it. GCC contracts only in GNU modes, clang by default.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

// The per-type loops over blocks get AVX2 / AVX-512 clones picked at load time (the GEMM widens
// weight tiles with them), so one binary runs on any x86_64.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define WAN_DEQUANT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define WAN_DEQUANT_CLONES
#endif

namespace wan {

namespace {

inline float half(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return f16_to_f32(v);
}

// ---- 32-element blocks
// q8_0: d (f16), qs[32] (int8).                            y = q * d
inline void q8_0(const uint8_t* b, float* y) {
  const float d = half(b);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = qs[j] * d;
}

// The 32-element types decode their low and high nibbles in two separate loops: each then reads
// and writes contiguously and vectorises (one loop writing y[j] and y[j + 16] measured slower).

// q4_0: d, qs[16]: element j in the low nibble of qs[j], j+16 in the high one. y = (q - 8) * d
inline void q4_0(const uint8_t* b, float* y) {
  const float d = half(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) y[j] = ((qs[j] & 0x0F) - 8) * d;
  for (int j = 0; j < 16; ++j) y[j + 16] = ((qs[j] >> 4) - 8) * d;
}

// q4_1: d, m, qs[16].                                      y = q * d + m
inline void q4_1(const uint8_t* b, float* y) {
  const float d = half(b), m = half(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) y[j] = (qs[j] & 0x0F) * d + m;
  for (int j = 0; j < 16; ++j) y[j + 16] = (qs[j] >> 4) * d + m;
}

// The fifth bit of element j of a q5 block (bit j of the little-endian u32 qh), at bit 4.
inline int fifth(uint32_t qh, int j) { return static_cast<int>(((qh >> j) & 1u) << 4); }

// q5_0: d, qh (32 fifth bits), qs[16].                     y = (q - 16) * d
inline void q5_0(const uint8_t* b, float* y) {
  const float d = half(b);
  uint32_t qh;
  std::memcpy(&qh, b + 2, 4);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; ++j) y[j] = (((qs[j] & 0x0F) | fifth(qh, j)) - 16) * d;
  for (int j = 0; j < 16; ++j) y[j + 16] = (((qs[j] >> 4) | fifth(qh, j + 16)) - 16) * d;
}

// q5_1: d, m, qh, qs[16].                                  y = q * d + m
inline void q5_1(const uint8_t* b, float* y) {
  const float d = half(b), m = half(b + 2);
  uint32_t qh;
  std::memcpy(&qh, b + 4, 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < 16; ++j) y[j] = ((qs[j] & 0x0F) | fifth(qh, j)) * d + m;
  for (int j = 0; j < 16; ++j) y[j + 16] = ((qs[j] >> 4) | fifth(qh, j + 16)) * d + m;
}

// ---- 256-element super-blocks (K-quants)

// The K-quants with 16-element sub-blocks decode all 256 integers first, then scale each run of
// 16 by its own (dl, ml): the same two roundings per element as ggml's loops.
inline void scale_runs16(const int8_t* v, const float* dl, const float* ml, float* y) {
  for (int r = 0; r < 16; ++r)
    for (int l = 0; l < 16; ++l) y[16 * r + l] = dl[r] * v[16 * r + l] - ml[r];
}

// q2_K: scales[16] (4-bit scale | 4-bit min per 16 elements), qs[64] (2 bits each), d, dmin.
inline void q2_k(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* q = b + 16;
  const float d = half(b + 80), min = half(b + 82);
  int8_t v[256];
  float dl[16], ml[16];
  for (int r = 0; r < 16; ++r) {
    dl[r] = d * (scales[r] & 0xF);
    ml[r] = min * (scales[r] >> 4);
  }
  // Output run 8h + 2j (+1) takes bits 2j of q[32h + l] (q[32h + 16 + l]).
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 32; ++l) v[128 * h + 32 * j + l] = static_cast<int8_t>((q[32 * h + l] >> (2 * j)) & 3);
  scale_runs16(v, dl, ml, y);
}

// q3_K: hmask[32] (third bits), qs[64] (low 2 bits), scales[12] (16 6-bit scales), d.
inline void q3_k(const uint8_t* b, float* y) {
  const uint8_t* hm = b;
  const uint8_t* q = b + 32;
  const float d_all = half(b + 108);
  constexpr uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  uint32_t aux[4];
  std::memcpy(aux, b + 96, 12);
  const uint32_t tmp = aux[2];
  aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
  aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
  aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
  aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
  int8_t scales[16];
  std::memcpy(scales, aux, 16);
  int8_t v[256];
  float dl[16], ml[16];
  for (int r = 0; r < 16; ++r) {
    dl[r] = d_all * (scales[r] - 32);
    ml[r] = 0.0f;
  }
  // Output run 8h + 2j (+1): bits 2j of q[32h + l], minus 4 unless bit (4h + j) of hm[l] is set.
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 4; ++j) {
      const uint8_t m = static_cast<uint8_t>(1u << (4 * h + j));
      for (int l = 0; l < 32; ++l)
        v[128 * h + 32 * j + l] = static_cast<int8_t>(((q[32 * h + l] >> (2 * j)) & 3) - ((hm[l] & m) ? 0 : 4));
    }
  // ggml computes dl * q (no min term): subtracting a zero min changes no value.
  scale_runs16(v, dl, ml, y);
}

// The 6-bit scale and min of sub-block j of a q4_K / q5_K super-block (12 packed bytes).
inline void scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// q4_K: d, dmin, scales[12], qs[128].
inline void q4_k(const uint8_t* b, float* y) {
  const float d = half(b), min = half(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  int is = 0;
  for (int j = 0; j < 256; j += 64) {
    uint8_t sc, m;
    scale_min_k4(is + 0, scales, &sc, &m);
    const float d1 = d * sc, m1 = min * m;
    scale_min_k4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = min * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    q += 32;
    is += 2;
  }
}

// q5_K: d, dmin, scales[12], qh[32] (fifth bits), qs[128].
inline void q5_k(const uint8_t* b, float* y) {
  const float d = half(b), min = half(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  int is = 0;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < 256; j += 64) {
    uint8_t sc, m;
    scale_min_k4(is + 0, scales, &sc, &m);
    const float d1 = d * sc, m1 = min * m;
    scale_min_k4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = min * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    ql += 32;
    is += 2;
    u1 <<= 2;
    u2 <<= 2;
  }
}

// q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d. Each 16-element run of
// l shares its four scales, so the inner loop has none that vary (and vectorises).
inline void q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half(b + 208);
  for (int n = 0; n < 256; n += 128) {
    for (int is = 0; is < 2; ++is) {
      const float s0 = d * sc[is + 0], s2 = d * sc[is + 2], s4 = d * sc[is + 4], s6 = d * sc[is + 6];
      for (int l = 16 * is; l < 16 * is + 16; ++l) {
        const int q1 = static_cast<int8_t>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = static_cast<int8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = static_cast<int8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = static_cast<int8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = s0 * q1;
        y[l + 32] = s2 * q2;
        y[l + 64] = s4 * q3;
        y[l + 96] = s6 * q4;
      }
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

// One loop per type over whole blocks: the unit that gets the SIMD clones.
#define WAN_BLOCK_LOOP(fn, bytes, elems)                                             \
  WAN_DEQUANT_CLONES void fn##_blocks(const uint8_t* s, int64_t n, float* y) {      \
    for (int64_t i = 0; i < n; ++i) fn(s + i * (bytes), y + i * (elems));            \
  }
WAN_BLOCK_LOOP(q8_0, 34, 32)
WAN_BLOCK_LOOP(q4_0, 18, 32)
WAN_BLOCK_LOOP(q4_1, 20, 32)
WAN_BLOCK_LOOP(q5_0, 22, 32)
WAN_BLOCK_LOOP(q5_1, 24, 32)
WAN_BLOCK_LOOP(q2_k, 84, 256)
WAN_BLOCK_LOOP(q3_k, 110, 256)
WAN_BLOCK_LOOP(q4_k, 144, 256)
WAN_BLOCK_LOOP(q5_k, 176, 256)
WAN_BLOCK_LOOP(q6_k, 210, 256)
#undef WAN_BLOCK_LOOP

using BlocksFn = void (*)(const uint8_t*, int64_t, float*);

BlocksFn blocks_fn(DType dtype) {
  switch (dtype) {
    case DType::Q8_0: return q8_0_blocks;
    case DType::Q4_0: return q4_0_blocks;
    case DType::Q4_1: return q4_1_blocks;
    case DType::Q5_0: return q5_0_blocks;
    case DType::Q5_1: return q5_1_blocks;
    case DType::Q2_K: return q2_k_blocks;
    case DType::Q3_K: return q3_k_blocks;
    case DType::Q4_K: return q4_k_blocks;
    case DType::Q5_K: return q5_k_blocks;
    case DType::Q6_K: return q6_k_blocks;
    default: return nullptr;
  }
}

}  // namespace

void dequantize_blocks(DType dtype, const void* src, int64_t blocks, float* dst) {
  const BlocksFn fn = blocks_fn(dtype);
  if (!fn) fail("E_NATIVE", std::string("dequantize_blocks: ") + dtype_name(dtype) + " is not a block type");
  fn(static_cast<const uint8_t*>(src), blocks, dst);
}

void dequantize(DType dtype, const void* src, int64_t count, float scale, float* dst) {
  if (dtype_is_block(dtype)) {
    const int64_t per = dtype_info(dtype).block_elems;
    if (count % per != 0)
      fail("E_MODEL_FORMAT", std::to_string(count) + " elements are not whole " + dtype_name(dtype) + " blocks");
    dequantize_blocks(dtype, src, count / per, dst);
    if (scale != 1.0f)
      for (int64_t i = 0; i < count; ++i) dst[i] *= scale;
    return;
  }
  convert_to_f32(dtype, src, static_cast<size_t>(count), scale, dst);
}

}  // namespace wan
