// linear() on the CPU: the matrix product in cancellable row panels over the GEMM of the weight's
// stored dtype (float32, bf16 dot products where opted in, or widened per tile), bias and activation
// after it.
#include <algorithm>
#include <cstdint>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_math.h"
#include "backends/cpu/gemm_bf16.h"
#include "core/error.h"
#include "core/gguf_blocks.h"

namespace wan::cpu {

namespace {
int64_t rows_of(const Tensor& t) { return t.numel() / t.dim(-1); }

constexpr int64_t kPanelMacs = int64_t{1} << 32;

WAN_SIMD_CLONES void add_bias_row(float* y, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += b[i];
}
}  // namespace

void CpuBackend::linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act, Tensor& y) {
  const int64_t K = x.dim(-1), M = rows_of(x), N = w.dim(0);
  WAN_CHECK(w.rank() == 2 && w.dim(1) == K, "linear: weight " + shape_str(w.shape()) + " for input " + shape_str(x.shape()));
  WAN_CHECK(y.dim(-1) == N && rows_of(y) == M, "linear: output " + shape_str(y.shape()));
  // Row panels of about 2^32 multiply-adds (tens of milliseconds here), the job's cancel polled
  // between them: at 2048x2048 one product over every token takes a minute. A panel keeps hundreds
  // of rows, where the GEMM runs at full speed; rows are independent, so the split changes nothing
  // (a compressed weight is widened again per panel: at least 256 rows share each widening).
  const int64_t panel = M * N * K <= kPanelMacs ? M : std::max<int64_t>(256, kPanelMacs / std::max<int64_t>(1, N * K));
  WeightRows rows;
  rows.dtype = w.dtype();
  rows.data = static_cast<const uint8_t*>(w.raw());
  rows.row_bytes = dtype_bytes(w.dtype(), K);
  rows.scale = w.scale();
  for (int64_t m0 = 0; m0 < M; m0 += panel) {
    if (m0 > 0) check_cancel("in a matrix product");
    const int64_t m = std::min(panel, M - m0);
    const float* xp = x.f32() + m0 * K;
    float* yp = y.f32() + m0 * N;
    if (w.dtype() == DType::F32) {
      gemm_(true, m, N, K, 1.0f, xp, K, w.f32(), K, 0.0f, yp, N);
    } else if (bf16_dot_ && w.dtype() == DType::BF16 && w.scale() == 1.0f) {
      gemm_bf16_dot(m, N, K, xp, K, w.data<uint16_t>(), K, yp, N, pool_);
    } else {
      gemm_.widened(m, N, K, xp, K, rows, yp, N);
    }
  }
  if (!bias && act == Activation::None) return;
  const float* b = bias ? bias->f32() : nullptr;
  float* out = y.f32();
  pool_.parallel_for(M, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* row = out + r * N;
      if (b) add_bias_row(row, b, N);
      apply_activation(row, N, act);
    }
  }, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, N)));
}

}  // namespace wan::cpu
