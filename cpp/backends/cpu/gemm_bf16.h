#pragma once
// An opt-in narrower product for bf16 weights: C = A * W^T with W [N, K] stored bf16 and A rounded
// to bf16 (nearest even), products summed in float32 by the CPU's bf16 dot-product instructions:
// Intel AMX (tdpbf16ps, tiles of 16 x 16 outputs) where the CPU and kernel allow it, else
// AVX512-BF16 (vdpbf16ps: two bf16 products per float32 lane per instruction). Not the reference
// path: the CPU backend uses it only when WAN_VIDEO_CPU_PRECISION=bf16 (it then also rounds float32
// and f16 matrices to bf16 at load); rounding A costs about 3 decimal digits. WAN_VIDEO_BF16_KERNEL=avx512 forces the AVX512-BF16 kernel (for comparisons).
#include <cstdint>

#include "core/thread_pool.h"

namespace wan::cpu {

// Whether this CPU (and this build) can run gemm_bf16_dot, and with which kernel ("amx_bf16",
// "avx512_bf16"; null when none).
bool bf16_dot_available();
const char* bf16_dot_kernel();

// C[M,N] = A[M,K] * W^T, W row-major [N, K] bf16 with rows ldw elements apart; C is overwritten.
void gemm_bf16_dot(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* W, int64_t ldw,
                   float* C, int64_t ldc, ThreadPool& pool);

}  // namespace wan::cpu
