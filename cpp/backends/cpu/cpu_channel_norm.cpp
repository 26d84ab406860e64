// The Wan VAE's RMS norm: F.normalize over channels times sqrt(C) and a gain, with the SiLU that
// follows it in every residual block and head fused in.
#include <algorithm>
#include <cmath>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_math.h"
#include "core/error.h"

namespace wan::cpu {

namespace {
// F.normalize's lower bound on the norm: an all-zero pixel stays zero instead of becoming NaN.
constexpr double kMinNorm = 1e-12;

WAN_SIMD_CLONES double sum_squares(const float* x, int64_t n) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  return ss;
}

WAN_SIMD_CLONES void scale_row(const float* x, const float* gamma, double s, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i] * s * gamma[i]);
}
}  // namespace

void CpuBackend::channel_rms_norm(const Tensor& x, const Tensor& gamma, Activation act, Tensor& y) {
  const int64_t C = x.dim(-1), rows = x.numel() / C;
  WAN_CHECK(gamma.numel() == C && y.numel() == x.numel(),
            "channel_rms_norm: gamma " + shape_str(gamma.shape()) + " for " + shape_str(x.shape()));
  const float* xd = x.f32();
  const float* g = gamma.f32();
  float* yd = y.f32();
  const double root_c = std::sqrt(static_cast<double>(C));
  pool_.parallel_for(rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = xd + r * C;
      float* yr = yd + r * C;
      const double norm = std::sqrt(sum_squares(xr, C));
      scale_row(xr, g, root_c / std::max(norm, kMinNorm), yr, C);
      apply_activation(yr, C, act);
    }
  }, std::max<int64_t>(1, 4096 / C));
}

}  // namespace wan::cpu
