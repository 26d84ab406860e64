#pragma once
// An opt-in narrower product for bf16 weights: C = A * W^T with W [N, K] stored bf16 and A rounded
// to bf16 (nearest even), products summed in float32 by the AVX512-BF16 dot-product instruction
// (vdpbf16ps: two bf16 products per float32 lane per instruction, twice the multiply-adds of an
// FMA of the same width). Not the reference path: the CPU backend uses it only when
// WAN_VIDEO_CPU_PRECISION=bf16 and the CPU has avx512_bf16; rounding A costs about 3 decimal digits.
#include <cstdint>

#include "core/thread_pool.h"

namespace wan::cpu {

// Whether this CPU (and this build) can run gemm_bf16_dot.
bool bf16_dot_available();

// C[M,N] = A[M,K] * W^T, W row-major [N, K] bf16 with rows ldw elements apart; C is overwritten.
void gemm_bf16_dot(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* W, int64_t ldw,
                   float* C, int64_t ldc, ThreadPool& pool);

}  // namespace wan::cpu
