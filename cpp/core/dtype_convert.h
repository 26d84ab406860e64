#pragma once
// Stored checkpoint dtypes to float32. The CPU backend computes in float32 whatever the file holds.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/tensor.h"

namespace wan {

inline float bits_to_f32(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline float bf16_to_f32(uint16_t v) { return bits_to_f32(static_cast<uint32_t>(v) << 16); }

// IEEE half to float, exact for every input: subnormal halves (GGUF's tiny block scales among
// them) come out as the float of the same value, never flushed to zero.
inline float f16_to_f32(uint16_t v) {
  const uint32_t sign = static_cast<uint32_t>(v & 0x8000u) << 16;
  const uint32_t em = v & 0x7fffu;
  if (em >= 0x7c00u) return bits_to_f32(sign | 0x7f800000u | ((em & 0x3ffu) << 13));  // inf / nan
  if (em >= 0x0400u) return bits_to_f32(sign | ((em << 13) + (112u << 23)));          // normal
  // Subnormal (or zero): mant * 2^-24, computed exactly as (2^-14 + mant * 2^-24) - 2^-14.
  const float f = bits_to_f32((113u << 23) | (em << 13)) - bits_to_f32(113u << 23);
  return sign ? -f : f;
}
// float8 e4m3 "fn" (the PyTorch/safetensors F8_E4M3): bias 7, no infinities, S.1111.111 is NaN.
float f8e4m3_to_f32(uint8_t v);

// Decodes `count` elements of `src` (stored as `dtype`) into dst, multiplied by `scale`.
void convert_to_f32(DType dtype, const void* src, size_t count, float scale, float* dst);

}  // namespace wan
