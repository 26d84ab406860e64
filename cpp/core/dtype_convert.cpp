#include "core/dtype_convert.h"

#include <cmath>
#include <cstring>

#include "core/error.h"

namespace wan {

float f8e4m3_to_f32(uint8_t v) {
  const bool neg = v & 0x80;
  const int exp = (v >> 3) & 0xf;
  const int mant = v & 0x7;
  float f;
  if (exp == 0xf && mant == 0x7) {
    f = std::nanf("");
  } else if (exp == 0) {
    f = std::ldexp(static_cast<float>(mant), -9);  // subnormal: mant/8 * 2^(1-7)
  } else {
    f = std::ldexp(1.0f + mant / 8.0f, exp - 7);
  }
  return neg ? -f : f;
}

namespace {
inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
}  // namespace

void convert_to_f32(DType dtype, const void* src, size_t count, float scale, float* dst) {
  switch (dtype) {
    case DType::F32: {
      std::memcpy(dst, src, count * 4);
      break;
    }
    // A safetensors tensor may start at any byte (after an odd-sized U8 tensor, or a header whose
    // length is not padded), so the 16-bit values are read by memcpy: a misaligned uint16_t load is
    // undefined behaviour (UBSan flags it; bench/fuzz/native found it), memcpy compiles to the same load.
    case DType::BF16: {
      const auto* s = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < count; ++i) dst[i] = bf16_to_f32(load_u16(s + 2 * i));
      break;
    }
    case DType::F16: {
      const auto* s = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < count; ++i) dst[i] = f16_to_f32(load_u16(s + 2 * i));
      break;
    }
    case DType::F8_E4M3: {
      float table[256];
      for (int i = 0; i < 256; ++i) table[i] = f8e4m3_to_f32(static_cast<uint8_t>(i));
      const auto* s = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < count; ++i) dst[i] = table[s[i]];
      break;
    }
    default:
      fail("E_MODEL_FORMAT", std::string("cannot read stored dtype ") + dtype_name(dtype));
  }
  if (scale != 1.0f)
    for (size_t i = 0; i < count; ++i) dst[i] *= scale;
}

}  // namespace wan
