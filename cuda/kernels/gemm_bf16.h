#pragma once
// Our own bf16 tensor-core GEMM (mma.sync, sm_80+), for builds without cuBLASLt:
//   C[M, N] = act(A[M, K] * B[N, K]^T + bias[N]), A and B bf16 (K-contiguous rows), C float32.
// K must be padded to a multiple of 8 (lda, ldb too) with zeros, and A, B 16-byte aligned: the
// backend's conversion pass writes A that way and pads weights whose K is not.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/kernels/act.h"

namespace wan::cuda {

struct GemmBf16Params {
  const uint16_t* a = nullptr;  // [M, lda] bf16
  const uint16_t* b = nullptr;  // [N, ldb] bf16
  float* c = nullptr;           // [M, ldc]
  const float* bias = nullptr;  // [N] or null
  int64_t M = 0, N = 0, K = 0;  // K: multiple of 8
  int64_t lda = 0, ldb = 0, ldc = 0;
  Act act = Act::None;
  // Residual epilogue (Backend::linear_add_gated): c[r, n] += act(acc + bias) * gate[gate_row[r] *
  // gate_ld + n], or += act(acc + bias) when gate is null, instead of c = act(acc + bias).
  bool accumulate = false;
  const float* gate = nullptr;
  const int32_t* gate_row = nullptr;
  int64_t gate_ld = 0;
};

// Which tile shape a problem gets (exposed for the benchmark's report).
const char* gemm_bf16_tile_name(const GemmBf16Params& p, int sm_count);
void launch_gemm_bf16(const GemmBf16Params& p, int sm_count, cudaStream_t s);

}  // namespace wan::cuda
