// Embeddings and token layout on the CPU: table lookups (a compressed table widened per row), the
// sinusoidal timestep embedding, RoPE and the patch reshapes.
#include <cmath>
#include <cstring>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_math.h"
#include "core/error.h"
#include "core/gguf_blocks.h"

namespace wan::cpu {

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
