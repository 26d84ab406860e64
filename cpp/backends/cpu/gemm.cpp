#include "backends/cpu/gemm.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "backends/cpu/gemm_portable.h"

#if defined(WAN_BLAS_ACCELERATE)
#define ACCELERATE_NEW_LAPACK
#include <Accelerate/Accelerate.h>
#elif defined(WAN_BLAS_OPENBLAS)
#include <cblas.h>
#endif

namespace wan::cpu {

const char* blas_library() {
#if defined(WAN_BLAS_ACCELERATE)
  return "accelerate";
#elif defined(WAN_BLAS_OPENBLAS)
  return "openblas";
#else
  return nullptr;
#endif
}

Gemm::Gemm(ThreadPool& pool) : pool_(pool) {
  const char* forced = std::getenv("WAN_VIDEO_GEMM");
  use_blas_ = blas_library() != nullptr && !(forced && std::strcmp(forced, "portable") == 0);
}

const char* Gemm::name() const {
  static const std::string portable = std::string("portable (") + sgemm_portable_kernel_name() + ")";
  return use_blas_ ? blas_library() : portable.c_str();
}

void Gemm::operator()(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                      const float* B, int64_t ldb, float beta, float* C, int64_t ldc) const {
  if (M <= 0 || N <= 0) return;
#if defined(WAN_BLAS_ACCELERATE) || defined(WAN_BLAS_OPENBLAS)
  if (use_blas_) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(M),
                static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B, static_cast<int>(ldb),
                beta, C, static_cast<int>(ldc));
    return;
  }
#endif
  sgemm_portable(trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, pool_);
}

}  // namespace wan::cpu
