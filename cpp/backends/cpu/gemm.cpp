#include "backends/cpu/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

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
  const char* qgemm = std::getenv("WAN_VIDEO_QGEMM");
  panel_path_ = use_blas_ || (qgemm && std::strcmp(qgemm, "panel") == 0);
#if defined(WAN_BLAS_OPENBLAS)
  // OpenBLAS's own thread pool deadlocks a fork() (any child_process.spawn in the Node process, an
  // ffmpeg encoder for one) made while another thread is inside a BLAS call: its atfork handler
  // waits for busy workers. Single-threaded BLAS calls split across our pool avoid that pool.
  if (use_blas_) openblas_set_num_threads(1);
#endif
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
    auto call = [&](int64_t m, int64_t n, const float* a, const float* b, float* c) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m),
                  static_cast<int>(n), static_cast<int>(K), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                  beta, c, static_cast<int>(ldc));
    };
    const int threads = pool_.size();
    const double flops = 2.0 * M * N * K;
    if (threads <= 1 || flops < 4e6) {
      call(M, N, A, B, C);
    } else if (M >= 8 * threads) {
      // Rows of C (and A) per thread; blocks of 8 rows keep the BLAS kernels' panels whole.
      pool_.parallel_for((M + 7) / 8, [&](int64_t b0, int64_t b1) {
        const int64_t r0 = b0 * 8, r1 = std::min(M, b1 * 8);
        call(r1 - r0, N, A + r0 * lda, B, C + r0 * ldc);
      });
    } else {
      // Few rows: columns of C (rows of B^T, or columns of B) per thread.
      pool_.parallel_for((N + 15) / 16, [&](int64_t b0, int64_t b1) {
        const int64_t c0 = b0 * 16, c1 = std::min(N, b1 * 16);
        call(M, c1 - c0, A, trans_b ? B + c0 * ldb : B + c0, C + c0);
      });
    }
    return;
  }
#endif
  sgemm_portable(trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, pool_);
}

void Gemm::widened(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const WeightRows& W, float* C,
                   int64_t ldc) const {
  if (M <= 0 || N <= 0) return;
  if (panel_path_) {
    panels(M, N, K, A, lda, W, C, ldc);
    return;
  }
  sgemm_portable_widened(M, N, K, 1.0f, A, lda, W, 0.0f, C, ldc, pool_);
}

namespace {
// One thread's float32 copy of a panel of W's rows; grown on demand, kept for the next call.
std::vector<float>& panel_buffer() {
  static thread_local std::vector<float> buf;
  return buf;
}
}  // namespace

// A BLAS sees only float32: W is widened a panel of rows at a time into a per-thread buffer (about
// 2 MiB, L2/L3 sized) and each panel is one single-threaded sgemm producing those columns of C;
// the threads take panels, so W is widened exactly once per call.
void Gemm::panels(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const WeightRows& W, float* C,
                  int64_t ldc) const {
  const int threads = pool_.size();
  int64_t rows = std::max<int64_t>(16, (int64_t{1} << 19) / std::max<int64_t>(1, K) / 16 * 16);
  rows = std::min(rows, (N + threads - 1) / threads);  // every thread gets work when N is small
  rows = std::max<int64_t>(1, rows);
  const int64_t count = (N + rows - 1) / rows;
  std::mutex err_mu;
  std::exception_ptr err;
  pool_.parallel_for(count, [&](int64_t p0, int64_t p1) {
    try {
      std::vector<float>& buf = panel_buffer();
      if (buf.size() < static_cast<size_t>(rows * K)) buf.resize(static_cast<size_t>(rows * K));
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t n0 = p * rows, n = std::min(rows, N - n0);
        widen_rows(W, n0, n, 0, K, buf.data(), K);
#if defined(WAN_BLAS_ACCELERATE) || defined(WAN_BLAS_OPENBLAS)
        if (use_blas_) {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(n),
                      static_cast<int>(K), 1.0f, A, static_cast<int>(lda), buf.data(), static_cast<int>(K), 0.0f,
                      C + n0, static_cast<int>(ldc));
          continue;
        }
#endif
        sgemm_portable(true, M, n, K, 1.0f, A, lda, buf.data(), K, 0.0f, C + n0, ldc, pool_);  // inline here
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(err_mu);
      if (!err) err = std::current_exception();
    }
  }, 1);
  if (err) std::rethrow_exception(err);
}

}  // namespace wan::cpu
