// Layer and RMS norms over the last dimension, with the adaLN modulation of the Wan blocks fused.
#include <cmath>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_math.h"
#include "core/error.h"

namespace wan::cpu {

namespace {

// Mean and 1/sqrt(var + eps) accumulated in double: the reference's float32 result is within an
// ulp of the exact value, so the exact value is what to aim for.
void moments(const float* x, int64_t n, float eps, float* mean, float* rstd) {
  double s = 0.0, ss = 0.0;
  for (int64_t i = 0; i < n; ++i) s += x[i];
  const double m = s / n;
  for (int64_t i = 0; i < n; ++i) {
    const double d = x[i] - m;
    ss += d * d;
  }
  *mean = static_cast<float>(m);
  *rstd = static_cast<float>(1.0 / std::sqrt(ss / n + eps));
}

WAN_SIMD_CLONES void normalize_row(const float* x, float* y, int64_t n, float mean, float rstd, const float* gamma,
                                   const float* beta) {
  for (int64_t i = 0; i < n; ++i) {
    float v = (x[i] - mean) * rstd;
    if (gamma) v *= gamma[i];
    if (beta) v += beta[i];
    y[i] = v;
  }
}

WAN_SIMD_CLONES void normalize_modulated_row(const float* x, float* y, int64_t n, float mean, float rstd,
                                             const float* shift, const float* scale) {
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * rstd * (1.0f + scale[i]) + shift[i];
}

}  // namespace

void CpuBackend::layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps, Tensor& y) {
  const int64_t n = x.dim(-1), rows = x.numel() / n;
  WAN_CHECK(y.numel() == x.numel(), "layer_norm output size");
  const float* g = gamma ? gamma->f32() : nullptr;
  const float* b = beta ? beta->f32() : nullptr;
  const float* xd = x.f32();
  float* yd = y.f32();
  pool_.parallel_for(rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float mean, rstd;
      moments(xd + r * n, n, eps, &mean, &rstd);
      normalize_row(xd + r * n, yd + r * n, n, mean, rstd, g, b);
    }
  }, 8);
}

void CpuBackend::layer_norm_modulated(const Tensor& x, const Modulation& mod, int shift_chunk, int scale_chunk,
                                      float eps, Tensor& y) {
  const int64_t n = x.dim(-1), rows = x.numel() / n;
  const Tensor& table = *mod.rows;
  const int64_t chunks = table.dim(1);
  WAN_CHECK(table.dim(2) == n && mod.row_of_token->numel() == rows && y.numel() == x.numel(),
            "layer_norm_modulated shapes");
  const float* td = table.f32();
  const int32_t* row_of = mod.row_of_token->i32();
  const float* xd = x.f32();
  float* yd = y.f32();
  pool_.parallel_for(rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* row = td + static_cast<int64_t>(row_of[r]) * chunks * n;
      float mean, rstd;
      moments(xd + r * n, n, eps, &mean, &rstd);
      normalize_modulated_row(xd + r * n, yd + r * n, n, mean, rstd, row + shift_chunk * n, row + scale_chunk * n);
    }
  }, 8);
}

void CpuBackend::rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) {
  const int64_t n = x.dim(-1), rows = x.numel() / n;
  WAN_CHECK(weight.numel() == n && y.numel() == x.numel(), "rms_norm shapes");
  const float* w = weight.f32();
  const float* xd = x.f32();
  float* yd = y.f32();
  pool_.parallel_for(rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = xd + r * n;
      double ss = 0.0;
      for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const float rstd = static_cast<float>(1.0 / std::sqrt(ss / n + eps));
      normalize_row(xr, yd + r * n, n, 0.0f, rstd, w, nullptr);
    }
  }, 8);
}

}  // namespace wan::cpu
