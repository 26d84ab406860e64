#pragma once
// Activations to fp8-e4m3 with one per-tensor scale, for cuBLASLt's fp8 GEMM (the opt-in fast path
// of an fp8 weight, cpp/backends/cuda/cuda_dense.cpp): s = amax / 448 (448: e4m3's largest finite value),
// q = e4m3(x / s) rounded to nearest even and saturated at +-448, so that q * s ~ x. The scale is
// written to device memory because cuBLASLt reads its operand scales through device pointers.
#include <cuda_runtime.h>

#include <cstdint>

namespace wan::cuda {

struct QuantFp8Params {
  const float* src = nullptr;  // f32 [rows, src_ld]
  int64_t rows = 0, cols = 0, src_ld = 0;
  uint8_t* dst = nullptr;      // e4m3 bytes [rows, dst_ld]; columns past cols are not written
  int64_t dst_ld = 0;
  unsigned int* amax = nullptr;  // device scratch: max |x| as float bits (zeroed by the launch)
  // Device floats written by the launch: scales[0] = the activations' s, scales[1] = weight_scale
  // (the stored weight's per-tensor scale, so that both GEMM scale pointers are device memory).
  float* scales = nullptr;
  float weight_scale = 1.0f;
};
// Two kernels on `s`: the amax reduction, then the scale and the conversion.
void launch_quant_fp8(const QuantFp8Params& p, cudaStream_t s);

}  // namespace wan::cuda
