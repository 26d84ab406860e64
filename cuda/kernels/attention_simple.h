#pragma once
// The backend's simple attention, float32 throughout: for a block of query rows of every
// (batch, head), scores = scale * q k^T (+ relative bias, masked keys at float's lowest), a row
// softmax, then out (+)= p v. Any head size, any lengths; used where the flash kernels decline.
#include <cuda_runtime.h>

#include <cstdint>

namespace wan::cuda {

// C[z] = alpha * A[z] * op(B[z]) + beta * C[z] for z = outer * inner_count + inner, each operand
// offset by outer * stride_outer + inner * stride_inner. A [M, K] (lda), B [N, K] (ldb) when
// trans_b else [K, N]; C [M, N] (ldc). beta == 0 never reads C.
struct BatchedGemmF32Params {
  const float* a = nullptr;
  int64_t lda = 0, a_outer = 0, a_inner = 0;
  const float* b = nullptr;
  int64_t ldb = 0, b_outer = 0, b_inner = 0;
  bool trans_b = false;
  float* c = nullptr;
  int64_t ldc = 0, c_outer = 0, c_inner = 0;
  int64_t M = 0, N = 0, K = 0;
  int outer_count = 1, inner_count = 1;
  float alpha = 1.0f, beta = 0.0f;
};
void launch_batched_gemm_f32(const BatchedGemmF32Params& p, cudaStream_t s);

// Softmax over each row of scores [outer*inner, rows, Sk] in place (z = b * heads + h), after
// adding bias_table[bucket[(q0 + r) * Sk + j] * heads + h] and masking keys with key_mask[b, j] == 0.
struct ScoresSoftmaxParams {
  float* scores = nullptr;
  int64_t rows = 0, Sk = 0, q0 = 0;
  int batch = 1, heads = 1;
  const float* bias_table = nullptr;       // [buckets, heads] float32, or
  const uint16_t* bias_table_bf16 = nullptr;  // the same as bf16 (a weight stored as a matrix)
  const int32_t* buckets = nullptr;        // [Sq, Sk]
  const int32_t* key_mask = nullptr;       // [batch, Sk]
};
void launch_scores_softmax(const ScoresSoftmaxParams& p, cudaStream_t s);

}  // namespace wan::cuda
