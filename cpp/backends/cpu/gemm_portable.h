#pragma once
// The CPU backend's own single-precision GEMM, used for every matrix product when the build found
// no tuned BLAS. Packs A and B into cache-sized panels and runs a register-blocked micro-kernel
// picked at run time for the CPU it runs on (AVX-512, AVX2+FMA, or portable C++).
#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace wan::cpu {

// A row-major weight matrix W [N, K] in a stored dtype other than float32 (bf16, f16, fp8 with its
// scale, GGUF blocks along K). Rows start `row_bytes` apart.
struct WeightRows {
  DType dtype = DType::BF16;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  float scale = 1.0f;
  // Elements decoded together: K offsets and depths handed to widen_rows are multiples of it.
  int64_t unit() const { return dtype_info(dtype).block_elems; }
};

// dst[r * ld + k] = W[row0 + r, k0 + k] as float32 for r < rows, k < depth; k0 and depth are
// multiples of w.unit() (depth may end at K).
void widen_rows(const WeightRows& w, int64_t row0, int64_t rows, int64_t k0, int64_t depth, float* dst, int64_t ld);

// C[M,N] = alpha * A[M,K] * op(B) + beta * C, all row-major with leading dimensions.
// op(B) = B^T where B is stored [N,K] (the weight layout of a linear layer) when trans_b, else B is [K,N].
// beta == 0 means C is write-only (its old contents, NaN included, are ignored).
// Safe to call from several threads at once and from inside a pool task (it then runs inline).
// Throws wan::Error (E_OOM) if its scratch buffers cannot be allocated.
void sgemm_portable(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb,
                    float beta, float* C, int64_t ldc, ThreadPool& pool);

// The same product with B = W stored [N, K] in a narrow or block dtype (op(B) = W^T): each packed
// B tile is widened from W's rows as it is packed, so no float32 copy of W exists beyond one
// thread's cache block.
void sgemm_portable_widened(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                            const WeightRows& W, float beta, float* C, int64_t ldc, ThreadPool& pool);

// Which micro-kernel the dispatcher picked ("avx512", "avx2+fma", "generic"), for `wan-video info`.
const char* sgemm_portable_kernel_name();

namespace detail {
// For tests and benchmarks only: forces one micro-kernel ("avx512", "avx2+fma", "generic").
// Returns false, changing nothing, if this CPU or build cannot run it. Not thread-safe with
// concurrent sgemm_portable calls.
bool sgemm_portable_force_kernel(const char* name);
}  // namespace detail

}  // namespace wan::cpu
