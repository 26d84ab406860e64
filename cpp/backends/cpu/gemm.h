#pragma once
// The one matrix-product entry of the CPU backend: a tuned BLAS when the build found one
// (OpenBLAS, Accelerate), the portable cache-blocked kernel otherwise or when
// WAN_VIDEO_GEMM=portable asks for it (benchmarks compare the two in one build).
#include <cstdint>

#include "backends/cpu/gemm_portable.h"
#include "core/thread_pool.h"

namespace wan::cpu {

class Gemm {
 public:
  explicit Gemm(ThreadPool& pool);
  // C[M,N] = alpha * A[M,K] * op(B) + beta * C, row-major; op(B) = B^T with B [N,K] when trans_b.
  void operator()(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc) const;
  // C[M,N] = A[M,K] * W^T with W [N,K] stored in another dtype (bf16, f16, fp8, GGUF blocks),
  // widened to float32 inside the product: per packed tile in the portable kernel, per panel of
  // rows into a per-thread buffer for the BLAS (WAN_VIDEO_QGEMM=panel forces the panel path on
  // the portable kernel too, to compare the two).
  void widened(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const WeightRows& W, float* C,
               int64_t ldc) const;
  const char* name() const;
  bool uses_blas() const { return use_blas_; }

 private:
  void panels(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const WeightRows& W, float* C,
              int64_t ldc) const;
  ThreadPool& pool_;
  bool use_blas_ = false;
  bool panel_path_ = false;
};

// Whether this binary was linked against a BLAS, and which.
const char* blas_library();

}  // namespace wan::cpu
