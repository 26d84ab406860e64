// Widening a compressed weight's rows to float32 for the GEMM's packers (gemm_portable.cpp,
// gemm.cpp): a few rows of one cache block at a time, so the float32 copy never outgrows L2.
#include <cstring>

#include "backends/cpu/gemm_portable.h"
#include "core/dtype_convert.h"
#include "core/error.h"
#include "core/gguf_blocks.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define WAN_WIDEN_X86 1
#else
#define WAN_WIDEN_X86 0
#endif

namespace wan::cpu {

namespace {

void widen_bf16(const uint16_t* s, int64_t n, float* d) {
  // A shift per element: GCC vectorises this loop at -O3.
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits = static_cast<uint32_t>(s[i]) << 16;
    std::memcpy(d + i, &bits, 4);
  }
}

void widen_f16_scalar(const uint16_t* s, int64_t n, float* d) {
  for (int64_t i = 0; i < n; ++i) d[i] = f16_to_f32(s[i]);
}

#if WAN_WIDEN_X86
// F16C converts 8 halves per instruction, subnormals exactly (it honours no DAZ/FTZ for inputs).
__attribute__((target("avx,f16c"))) void widen_f16_f16c(const uint16_t* s, int64_t n, float* d) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
  widen_f16_scalar(s + i, n - i, d + i);
}
#endif

using HalfFn = void (*)(const uint16_t*, int64_t, float*);

HalfFn pick_f16() {
#if WAN_WIDEN_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx")) return widen_f16_f16c;
#endif
  return widen_f16_scalar;
}

const float* f8_table() {
  static const float* table = [] {
    static float t[256];
    for (int i = 0; i < 256; ++i) t[i] = f8e4m3_to_f32(static_cast<uint8_t>(i));
    return t;
  }();
  return table;
}

}  // namespace

void widen_rows(const WeightRows& w, int64_t row0, int64_t rows, int64_t k0, int64_t depth, float* dst, int64_t ld) {
  static const HalfFn widen_f16 = pick_f16();
  const DTypeInfo& info = dtype_info(w.dtype);
  const size_t k_off = dtype_bytes(w.dtype, k0);
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* src = w.data + static_cast<size_t>(row0 + r) * w.row_bytes + k_off;
    float* d = dst + r * ld;
    switch (w.dtype) {
      case DType::BF16: widen_bf16(reinterpret_cast<const uint16_t*>(src), depth, d); break;
      case DType::F16: widen_f16(reinterpret_cast<const uint16_t*>(src), depth, d); break;
      case DType::F8_E4M3: {
        const float* t = f8_table();
        for (int64_t i = 0; i < depth; ++i) d[i] = t[src[i]];
        break;
      }
      case DType::F32: std::memcpy(d, src, static_cast<size_t>(depth) * 4); break;
      default:
        WAN_CHECK(info.block_elems > 1 && depth % info.block_elems == 0, "widen_rows: partial block");
        dequantize_blocks(w.dtype, src, depth / info.block_elems, d);
    }
    if (w.scale != 1.0f)
      for (int64_t i = 0; i < depth; ++i) d[i] *= w.scale;
  }
}

}  // namespace wan::cpu
