#pragma once
// GGUF's block formats (ggml's block_q8_0 ... block_q6_K) decoded to float32 exactly as ggml's
// dequantize_row_* do: each fp16 block scale becomes float32 first (subnormals kept), then
// multiplies in float32, so the results match ggml and gguf-py bit for bit. Used by the loaders
// (whole tensors) and by the CPU GEMM (a few blocks of a row per tile).
#include <cstddef>
#include <cstdint>

#include "core/tensor.h"

namespace wan {

// Decodes `blocks` consecutive blocks of the block dtype `dtype` from `src` into
// blocks * dtype_info(dtype).block_elems floats.
void dequantize_blocks(DType dtype, const void* src, int64_t blocks, float* dst);

// Decodes `count` elements of any stored dtype but I32 (scalar or block; a block type needs
// whole blocks) and multiplies them by `scale` when it is not 1.
void dequantize(DType dtype, const void* src, int64_t count, float scale, float* dst);

}  // namespace wan
