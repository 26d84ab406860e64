#pragma once
// Stored checkpoint dtypes to float32. The CPU backend computes in float32 whatever the file holds.
#include <cstddef>
#include <cstdint>

#include "core/tensor.h"

namespace wan {

float bf16_to_f32(uint16_t v);
float f16_to_f32(uint16_t v);
// float8 e4m3 "fn" (the PyTorch/safetensors F8_E4M3): bias 7, no infinities, S.1111.111 is NaN.
float f8e4m3_to_f32(uint8_t v);

// Decodes `count` elements of `src` (stored as `dtype`) into dst, multiplied by `scale`.
void convert_to_f32(DType dtype, const void* src, size_t count, float scale, float* dst);

}  // namespace wan
