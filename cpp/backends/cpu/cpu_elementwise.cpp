// Elementwise work of the CPU backend: gated residuals, activations, modulation rows, products and
// linear combinations.
#include <cmath>
#include <cstring>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_math.h"
#include "core/error.h"

namespace wan::cpu {

WAN_SIMD_CLONES void apply_activation(float* x, int64_t n, Activation act) {
  switch (act) {
    case Activation::None: break;
    case Activation::GeluTanh:
      for (int64_t i = 0; i < n; ++i) x[i] = gelu_tanh(x[i]);
      break;
    case Activation::GeluErf:
      for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
      break;
    case Activation::Silu:
      for (int64_t i = 0; i < n; ++i) x[i] = silu(x[i]);
      break;
  }
}

namespace {
WAN_SIMD_CLONES void fma_row(float* x, const float* y, const float* g, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i] * g[i];
}
WAN_SIMD_CLONES void add_row(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}
}  // namespace

void CpuBackend::add_gated(Tensor& x, const Tensor& y, const Modulation* mod, int gate_chunk) {
  const int64_t n = x.dim(-1), rows = x.numel() / n;
  WAN_CHECK(y.numel() == x.numel(), "add_gated shapes " + shape_str(x.shape()) + " " + shape_str(y.shape()));
  float* xd = x.f32();
  const float* yd = y.f32();
  const float* td = mod ? mod->rows->f32() : nullptr;
  const int32_t* row_of = mod ? mod->row_of_token->i32() : nullptr;
  const int64_t chunks = mod ? mod->rows->dim(1) : 0;
  pool_.parallel_for(rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      if (td)
        fma_row(xd + r * n, yd + r * n, td + (static_cast<int64_t>(row_of[r]) * chunks + gate_chunk) * n, n);
      else
        add_row(xd + r * n, yd + r * n, n);
    }
  }, 16);
}

void CpuBackend::activation(const Tensor& x, Activation act, Tensor& y) {
  WAN_CHECK(x.numel() == y.numel(), "activation shapes");
  if (x.raw() != y.raw()) std::memcpy(y.raw(), x.raw(), x.bytes());
  float* yd = y.f32();
  const int64_t n = y.numel();
  pool_.parallel_for(n, [&](int64_t b, int64_t e) { apply_activation(yd + b, e - b, act); }, 16384);
}

void CpuBackend::modulation_rows(const Tensor& table, const Tensor& rows, Tensor& out) {
  const int64_t C = table.numel() / table.dim(-1), dim = table.dim(-1), R = rows.dim(0);
  const bool chunked = rows.numel() == R * C * dim;
  WAN_CHECK(chunked || rows.numel() == R * dim, "modulation_rows: rows " + shape_str(rows.shape()));
  WAN_CHECK(out.numel() == R * C * dim, "modulation_rows: out " + shape_str(out.shape()));
  const float* t = table.f32();
  const float* rd = rows.f32();
  float* o = out.f32();
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < dim; ++i)
        o[(r * C + c) * dim + i] = t[c * dim + i] + rd[chunked ? (r * C + c) * dim + i : r * dim + i];
}

void CpuBackend::add_positional(Tensor& x, const Tensor& pos) {
  const int64_t E = x.dim(-1), S = x.dim(-2), B = x.numel() / (S * E);
  WAN_CHECK(pos.numel() == S * E, "add_positional: pos " + shape_str(pos.shape()) + " for " + shape_str(x.shape()));
  float* xd = x.f32();
  for (int64_t b = 0; b < B; ++b) add_row(xd + b * S * E, pos.f32(), S * E);
}

namespace {
WAN_SIMD_CLONES void mul_row(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= y[i];
}
}  // namespace

void CpuBackend::multiply(Tensor& x, const Tensor& y) {
  WAN_CHECK(x.numel() == y.numel(), "multiply shapes " + shape_str(x.shape()) + " " + shape_str(y.shape()));
  float* xd = x.f32();
  const float* yd = y.f32();
  pool_.parallel_for(x.numel(), [&](int64_t b, int64_t e) { mul_row(xd + b, yd + b, e - b); }, 16384);
}

void CpuBackend::linear_combination(Tensor& out, const std::vector<std::pair<float, const Tensor*>>& terms) {
  const int64_t n = out.numel();
  for (const auto& [c, t] : terms) WAN_CHECK(t->numel() == n, "linear_combination: term " + shape_str(t->shape()));
  float* o = out.f32();
  pool_.parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      // Accumulate in double: schedulers combine terms of very different sizes.
      double acc = 0.0;
      for (const auto& [c, t] : terms) acc += static_cast<double>(c) * t->f32()[i];
      o[i] = static_cast<float>(acc);
    }
  }, 16384);
}

}  // namespace wan::cpu
