#pragma once
// The generic parity harness: a device-under-test backend against the CPU reference, op by op on
// random inputs and model by model on the same random weights. Each check returns the relative L2
// error of the device's result, ||dut - ref|| / ||ref||, and carries its own bound.
#include <cstdint>
#include <functional>
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

 private:
  Backend& ref_;
  Backend& dut_;
  std::mt19937_64 rng_;
};

struct Check {
  std::string name;
  double bound;
  std::function<double(Ctx&)> run;
};

// Bounds, relative L2 (see README in bench/cuda): exact data movement, float32 arithmetic that only
// reorders sums, and bf16 tensor-core products (operands rounded to 8 bits of mantissa).
constexpr double kExact = 1e-7;
constexpr double kF32 = 2e-5;
constexpr double kBf16 = 6e-3;
constexpr double kAttentionBf16 = 8e-3;
constexpr double kModel = 1e-2;

std::vector<Check> op_checks();
std::vector<Check> weight_checks();
std::vector<Check> model_checks();

}  // namespace wan::parity
