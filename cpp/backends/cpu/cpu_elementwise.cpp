// Elementwise work, embeddings and the patch reshapes of the CPU backend.
#include <cmath>
#include <cstring>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_math.h"
#include "core/error.h"
#include "core/gguf_blocks.h"

namespace wan::cpu {

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

void CpuBackend::embedding(const Tensor& table, const Tensor& ids, Tensor& out) {
  const int64_t rows = table.dim(0), dim = table.dim(-1), n = ids.numel();
  WAN_CHECK(out.numel() == n * dim, "embedding output " + shape_str(out.shape()));
  const int32_t* id = ids.i32();
  for (int64_t i = 0; i < n; ++i)
    if (id[i] < 0 || id[i] >= rows)
      fail("E_INVALID_ARGUMENT", "token id " + std::to_string(id[i]) + " is outside the vocabulary of " +
                                     std::to_string(rows));
  float* o = out.f32();
  if (table.dtype() != DType::F32) {  // a table kept at its stored dtype: widen the rows read
    const size_t row_bytes = dtype_bytes(table.dtype(), dim);
    const auto* t = static_cast<const uint8_t*>(table.raw());
    for (int64_t i = 0; i < n; ++i) dequantize(table.dtype(), t + id[i] * row_bytes, dim, table.scale(), o + i * dim);
    return;
  }
  const float* t = table.f32();
  for (int64_t i = 0; i < n; ++i) std::memcpy(o + i * dim, t + id[i] * dim, dim * sizeof(float));
}

void CpuBackend::timestep_embedding(const Tensor& t, Tensor& y) {
  const int64_t R = t.numel(), dim = y.dim(-1), half = dim / 2;
  WAN_CHECK(y.numel() == R * dim && dim % 2 == 0, "timestep_embedding shapes");
  const float* td = t.f32();
  float* yd = y.f32();
  // Float32 steps in the reference's order (exponent, exp, product), so the arguments of sin and
  // cos round the same way; sin/cos themselves are evaluated exactly and rounded once.
  const float neg_log_period = static_cast<float>(-std::log(10000.0));
  for (int64_t r = 0; r < R; ++r) {
    for (int64_t i = 0; i < half; ++i) {
      const float exponent = neg_log_period * static_cast<float>(i) / static_cast<float>(half);
      const float arg = td[r] * std::exp(exponent);
      yd[r * dim + i] = static_cast<float>(std::cos(static_cast<double>(arg)));
      yd[r * dim + half + i] = static_cast<float>(std::sin(static_cast<double>(arg)));
    }
  }
}

void CpuBackend::rope(Tensor& x, int heads, const Tensor& cos, const Tensor& sin) {
  const int64_t HD = x.dim(-1), S = x.dim(-2), B = x.numel() / (S * HD), D = HD / heads, half = D / 2;
  WAN_CHECK(cos.numel() == S * half && sin.numel() == S * half, "rope: table " + shape_str(cos.shape()));
  float* xd = x.f32();
  const float* c = cos.f32();
  const float* s = sin.f32();
  pool_.parallel_for(B * S, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t pos = r % S;
      const float* cr = c + pos * half;
      const float* sr = s + pos * half;
      for (int h = 0; h < heads; ++h) {
        float* v = xd + r * HD + h * D;
        for (int64_t i = 0; i < half; ++i) {
          const float a = v[2 * i], b = v[2 * i + 1];
          v[2 * i] = a * cr[i] - b * sr[i];
          v[2 * i + 1] = a * sr[i] + b * cr[i];
        }
      }
    }
  }, 16);
}

void CpuBackend::patchify(const Tensor& x, const PatchParams& p, Tensor& y) {
  const int64_t B = x.dim(0), C = x.dim(1), F = x.dim(2), H = x.dim(3), W = x.dim(4);
  const int64_t Fp = F / p.pt, Hp = H / p.ph, Wp = W / p.pw, P = int64_t{p.pt} * p.ph * p.pw;
  WAN_CHECK(y.numel() == B * Fp * Hp * Wp * C * P, "patchify output " + shape_str(y.shape()));
  const float* xd = x.f32();
  float* yd = y.f32();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t f = 0; f < Fp; ++f)
      for (int64_t h = 0; h < Hp; ++h)
        for (int64_t w = 0; w < Wp; ++w) {
          float* out = yd + (((b * Fp + f) * Hp + h) * Wp + w) * C * P;
          for (int64_t c = 0; c < C; ++c)
            for (int kt = 0; kt < p.pt; ++kt)
              for (int kh = 0; kh < p.ph; ++kh)
                for (int kw = 0; kw < p.pw; ++kw)
                  *out++ = xd[(((b * C + c) * F + f * p.pt + kt) * H + h * p.ph + kh) * W + w * p.pw + kw];
        }
}

void CpuBackend::unpatchify(const Tensor& y, const PatchParams& p, Tensor& out) {
  const int64_t B = out.dim(0), C = out.dim(1), F = out.dim(2), H = out.dim(3), W = out.dim(4);
  const int64_t Fp = F / p.pt, Hp = H / p.ph, Wp = W / p.pw, P = int64_t{p.pt} * p.ph * p.pw;
  WAN_CHECK(y.numel() == B * Fp * Hp * Wp * P * C, "unpatchify input " + shape_str(y.shape()));
  const float* yd = y.f32();
  float* od = out.f32();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t f = 0; f < Fp; ++f)
      for (int64_t h = 0; h < Hp; ++h)
        for (int64_t w = 0; w < Wp; ++w) {
          const float* in = yd + (((b * Fp + f) * Hp + h) * Wp + w) * P * C;
          for (int kt = 0; kt < p.pt; ++kt)
            for (int kh = 0; kh < p.ph; ++kh)
              for (int kw = 0; kw < p.pw; ++kw)
                for (int64_t c = 0; c < C; ++c)
                  od[(((b * C + c) * F + f * p.pt + kt) * H + h * p.ph + kh) * W + w * p.pw + kw] = *in++;
        }
}

}  // namespace wan::cpu
