#pragma once
// Stored weight formats decoded on the device: bf16/f16/fp8-e4m3 (times its scale) and GGUF's
// block formats (ggml's block_q8_0 ... block_q6_K), to bf16 GEMM operands or float32. The
// arithmetic is ggml's dequantize_row_* in float32 (fp16 block scales, subnormals included,
// converted exactly before they multiply), so a weight decodes here as it does on the CPU.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace wan::cuda {

// The stored formats, numbered as wan::DType numbers them (the backend static_asserts the match).
enum class WeightFormat : uint8_t {
  F32 = 0, F16 = 1, BF16 = 2, F8_E4M3 = 3,
  Q8_0 = 5, Q4_0 = 6, Q4_1 = 7, Q5_0 = 8, Q5_1 = 9, Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14,
};

// dst[r * dst_ld + c] = scale * W[r, c] for r < rows, c < cols; W's row r starts at
// src + r * src_row_bytes (whole blocks along c for the block formats). Columns past cols up to
// dst_ld are not written (the caller zeroes them when it pads).
struct DequantParams {
  const void* src = nullptr;
  WeightFormat format = WeightFormat::F32;
  int64_t rows = 0, cols = 0;
  size_t src_row_bytes = 0;
  float scale = 1.0f;
  void* dst = nullptr;  // bf16 bits (uint16) when dst_bf16, else float
  int64_t dst_ld = 0;
  bool dst_bf16 = true;
};
void launch_dequant(const DequantParams& p, cudaStream_t s);

}  // namespace wan::cuda
