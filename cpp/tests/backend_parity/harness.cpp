#include "tests/backend_parity/harness.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace wan::parity {

std::vector<float> Ctx::random(int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng_);
  return v;
}

std::vector<float> Ctx::random_fast(int64_t n, float amp) {
  uint64_t state = rng_();
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    x = amp * (static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f);
  }
  return v;
}

Twin Ctx::from(const std::vector<float>& host, const Shape& s) {
  return {ref_.upload(host.data(), s), dut_.upload(host.data(), s), s};
}

Twin Ctx::input(const Shape& s, float lo, float hi) { return from(random(shape_numel(s), lo, hi), s); }

Twin Ctx::weight(const Shape& s, float scale) {
  const auto host = random(shape_numel(s), -scale, scale);
  StoredWeight w;
  w.name = "parity weight";
  w.data = host.data();
  w.bytes = host.size() * sizeof(float);
  w.dtype = DType::F32;
  w.shape = s;
  w.use = WeightUse::Matrix;
  return stored(w);
}

Twin Ctx::stored(const StoredWeight& w) { return {ref_.load_weight(w), dut_.load_weight(w), w.shape}; }

Twin Ctx::ints(const std::vector<int32_t>& host, const Shape& s) {
  return {ref_.upload_i32(host.data(), s), dut_.upload_i32(host.data(), s), s};
}

std::vector<float> Ctx::download_ref(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  ref_.download(t, v.data());
  return v;
}

std::vector<float> Ctx::download_dut(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  dut_.download(t, v.data());
  if (perturb != 0.0f)
    for (auto& x : v) x *= 1.0f + perturb;
  return v;
}

double Ctx::rel_l2(const std::vector<float>& ref, const std::vector<float>& dut) {
  // An empty or all-zero reference proves nothing: such a check fails rather than passing by default.
  if (ref.empty() || ref.size() != dut.size()) return INFINITY;
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(dut[i]) - ref[i];
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
  }
  if (!std::isfinite(num)) return INFINITY;
  if (den == 0.0) return INFINITY;
  return std::sqrt(num / den);
}

double Ctx::rel_l2(const Twin& t) { return rel_l2(download_ref(t.ref), download_dut(t.dut)); }

std::string dims(std::initializer_list<int64_t> d) {
  std::string s;
  for (int64_t v : d) s += (s.empty() ? "" : "x") + std::to_string(v);
  return s;
}

int64_t production_tokens(const Ctx& c) { return std::max<int64_t>(8, kTokens / c.reduce); }

Tensor poisoned(Backend& b, const Shape& s) {
  const std::vector<float> nan(static_cast<size_t>(shape_numel(s)), std::numeric_limits<float>::quiet_NaN());
  return b.upload(nan.data(), s);
}

std::vector<float> gather_rows(const std::vector<float>& m, int64_t cols, const std::vector<int64_t>& rows) {
  std::vector<float> out(rows.size() * static_cast<size_t>(cols));
  for (size_t i = 0; i < rows.size(); ++i)
    std::copy_n(m.begin() + rows[i] * cols, cols, out.begin() + static_cast<int64_t>(i) * cols);
  return out;
}

}  // namespace wan::parity
