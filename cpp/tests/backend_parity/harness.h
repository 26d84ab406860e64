#pragma once
// The generic parity harness: a device-under-test backend against the CPU reference, op by op on
// random inputs and model by model on the same random weights. Each check returns the relative L2
// error of the device's result, ||dut - ref|| / ||ref||, and carries its own bound.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "ops/backend.h"

namespace wan::parity {

// One tensor made on both backends from the same host values.
struct Twin {
  Tensor ref, dut;
  Shape shape;
};

class Ctx {
 public:
  Ctx(Backend& ref, Backend& dut, uint64_t seed) : ref_(ref), dut_(dut), rng_(seed) {}
  Backend& ref() { return ref_; }
  Backend& dut() { return dut_; }

  std::vector<float> random(int64_t n, float lo = -1.0f, float hi = 1.0f);
  // Uniform in [-amp, amp] from a splitmix64 stream: for the production shapes' large inputs
  // (hundreds of millions of values), where the distribution object above is too slow.
  std::vector<float> random_fast(int64_t n, float amp = 1.0f);
  // Activations (upload), float32 linear() weights (load_weight: bf16 matrices on the CUDA
  // backend), weights at a stored dtype as each backend chooses to keep them, int ids.
  Twin input(const Shape& s, float lo = -1.0f, float hi = 1.0f);
  Twin from(const std::vector<float>& host, const Shape& s);
  Twin weight(const Shape& s, float scale = 0.5f);
  Twin stored(const StoredWeight& w);
  std::mt19937_64& rng() { return rng_; }
  Twin ints(const std::vector<int32_t>& host, const Shape& s);
  std::vector<float> download_ref(const Tensor& t);
  std::vector<float> download_dut(const Tensor& t);
  // ||dut - ref|| / ||ref|| of the two halves; infinite (a failure) for an empty or all-zero reference.
  double rel_l2(const Twin& t);
  double rel_l2(const std::vector<float>& ref, const std::vector<float>& dut);

  // Scales the device's downloads by (1 + factor): the harness's own test that a wrong result fails.
  float perturb = 0.0f;
  // Divides the production checks' token counts (and frame sizes) by this: the same code at small
  // sizes (--reduce N; the CPU self-check in CI runs them so).
  int64_t reduce = 1;

 private:
  Backend& ref_;
  Backend& dut_;
  std::mt19937_64 rng_;
};

struct Check {
  std::string name;
  double bound;
  std::function<double(Ctx&)> run;
  // Set for a device check that compares two paths only one GEMM implements differently: on any
  // other GEMM both sides are the same ops, and a check that cannot fail is left out (listed as such).
  const char* only_on_gemm = nullptr;
};

// Bounds, relative L2: ||dut - ref|| / ||ref||. Derived once here (the table with the numbers is
// in bench/cuda/README.md; bench/cuda/parity_bounds.py measures the expected errors):
// - kExact: data movement returns the same floats.
// - kF32: float32 arithmetic whose only difference is the order of sums: a few ulps (2^-24 each)
//   times sqrt(terms), far below 2e-5 at every size here; also the device-only comparison of the
//   fused GELU epilogue with the separate GELU kernel (same formula, other rounding).
// - kBf16: products with both operands rounded to bf16 (8 significant bits: a relative rounding
//   error of at most u = 2^-8 per operand, 1.5e-3 rms) and float32 accumulation. The errors of the
//   K terms of a dot product are independent, so the product's relative L2 error does not grow with
//   the depth K for inputs of random sign: sqrt(2 operands) x 1.5e-3 = 2.1e-3 (measured 2.1-2.3e-3
//   at K = 1536 and 8960). The tanh-GELU epilogue multiplies it by its L2-weighted condition number
//   |y gelu'(y) / gelu(y)|, 1.17 for unit-size outputs (the bias, exact in float32, lowers it a
//   little: measured 1.9-2.1e-3 with bias and epilogue). Bound 6e-3: ~2.6x the expected value, so a
//   wrong tile, a missed row or a stale accumulator (errors of order 1e-1 and more) cannot hide
//   under it, while a correct kernel does not come near it.
// - kAttentionBf16: q, k, v and the probabilities P rounded to bf16 before the two products (four
//   roundings in series, plus the scores' rounding error passed through exp): measured 3.4e-3 at
//   512 keys and 3.6e-3 at 32,760; bound 8e-3.
// - kModel: whole forwards: each bf16 product in series adds its error (a block: q/k/v, attention's
//   two products, o, ffn in with GELU, ffn out: sqrt(6 products) x 2.1e-3 = 5.1e-3 for a block whose
//   branches dominated the output, less where the residual stream carries it); bound 1e-2.
// - kFp8Gemm: the opt-in fp8 GEMM (Backend::set_fp8_gemm) against the exact product of the
//   dequantized fp8 weight and the float activations. The weight is e4m3 times its file scale on
//   both sides, exactly (the scale multiplies in the f32 accumulator). The activations are rounded
//   to e4m3 after division by s = amax / 448: e4m3 keeps 3 mantissa bits, so an element in the
//   binade [b, 2b) gets a rounding error dx uniform in [-u b, u b] with u = 2^-4 (half the spacing
//   b / 8), variance u^2 b^2 / 3. For random signs the K terms' errors are independent, so
//   E||dy||^2 / ||y||^2 = E||dx||^2 / ||x||^2 (weighted alike by w^2) = (u^2 / 3) sum b^2 / sum x^2,
//   and b <= |x| gives the bound u / sqrt(3) = 3.61e-2 (values at the bottom of their binade); for
//   mantissas spread over [1, 2) the expectation is about 2.5e-2 (bench/fp8/gemm_error.py
//   emulates it: 2.5-2.6e-2 for gaussian, uniform and heavy-tailed activations,
//   bench/results/2026-12-05-cpu-fp8-gemm-error-emulation.json). Values below e4m3's normal range
//   (|x| / s < 2^-6) round absolutely, not relatively: a negligible share of ||x||^2 for the inputs
//   here. Float32 accumulation adds ~1e-6. Bound: u / sqrt(3) itself, not widened.
//   kFp8GemmFloor: b > |x| / 2 gives the expectation a floor of u / (2 sqrt(3)) = 1.80e-2: an error
//   below it with the fp8 GEMM reported on means the bf16 path answered instead (its error is
//   ~2e-3), a silent fallback, and the check fails.
constexpr double kExact = 1e-7;
constexpr double kF32 = 2e-5;
constexpr double kBf16 = 6e-3;
constexpr double kAttentionBf16 = 8e-3;
constexpr double kModel = 1e-2;
constexpr double kFp8Gemm = 0.0625 / 1.7320508075688772;       // 2^-4 / sqrt(3)
constexpr double kFp8GemmFloor = 0.0625 / (2 * 1.7320508075688772);

// "2x48x12x128": the shapes in check names.
std::string dims(std::initializer_list<int64_t> d);

// The production shapes (production_checks.cpp, fused_checks.cpp): Wan2.1-1.3B at 480p x 81
// frames, a 21 x 60 x 104 latent in 2x2 patches, 512 text tokens.
constexpr int64_t kTokens = 32760;
constexpr int64_t kDim = 1536, kFfn = 8960, kHeads = 12, kHeadDim = 128, kText = 512;
// kTokens divided by Ctx::reduce (at least 8).
int64_t production_tokens(const Ctx& c);
// A device output poisoned with NaN: an element the op does not write fails the comparison.
Tensor poisoned(Backend& b, const Shape& s);
// Rows `rows` of the row-major [*, cols] matrix m, in that order.
std::vector<float> gather_rows(const std::vector<float>& m, int64_t cols, const std::vector<int64_t>& rows);

// Rows compared against the CPU at production sizes: the first and last 128-row tiles whole and one
// row of every tile between, at an offset that walks through all 128 positions (production_checks.cpp).
std::vector<int64_t> sample_rows(int64_t M);

std::vector<Check> op_checks();
// The transformer block's fused ops (fused_checks.cpp): small shapes into op_checks(), production
// shapes into production_op_checks().
void add_fused_op_checks(std::vector<Check>& v);
void add_fused_production_checks(std::vector<Check>& v);
std::vector<Check> weight_checks();
std::vector<Check> model_checks();
// The shapes production runs (Wan2.1-1.3B at 480p x 81 frames; the VAE decoder at 480p).
std::vector<Check> production_op_checks();
std::vector<Check> production_model_checks();

}  // namespace wan::parity
