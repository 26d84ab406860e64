#pragma once
// Pieces the scheduler implementations share (not part of the pipeline's interface).
#include <cmath>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "pipeline/scheduler.h"

namespace wan::pipeline::detail {

// A linear combination of backend tensors with host double coefficients, so that an update can be
// written like the reference's formula (x0 = sample - sigma * model_output, D1 = (m1 - m0) / r1 ...)
// and still run as one Backend::linear_combination. Terms of the same tensor are merged.
class LinearForm {
 public:
  LinearForm() = default;
  // Implicit on purpose: a tensor is the form 1 * tensor.
  LinearForm(const Tensor& t) { terms_.emplace_back(1.0, &t); }  // NOLINT(google-explicit-constructor)

  LinearForm& operator+=(const LinearForm& o) {
    for (const auto& t : o.terms_) add(t.first, t.second);
    return *this;
  }
  LinearForm& operator-=(const LinearForm& o) {
    for (const auto& t : o.terms_) add(-t.first, t.second);
    return *this;
  }
  LinearForm& operator*=(double c) {
    for (auto& t : terms_) t.first *= c;
    return *this;
  }
  friend LinearForm operator+(LinearForm a, const LinearForm& b) { return a += b; }
  friend LinearForm operator-(LinearForm a, const LinearForm& b) { return a -= b; }
  friend LinearForm operator*(double c, LinearForm a) { return a *= c; }

  // out = the combination (out may be one of the terms). Zero coefficients are dropped, which
  // also drops the 0 * sample of a step that lands on sigma 0.
  void assign_to(Backend& backend, Tensor& out) const;

 private:
  void add(double c, const Tensor* t) {
    for (auto& e : terms_)
      if (e.second == t) {
        e.first += c;
        return;
      }
    terms_.emplace_back(c, t);
  }
  std::vector<std::pair<double, const Tensor*>> terms_;
};

// The grids must round like numpy's separate multiply and add: a timestep is a truncated
// sigma * 1000, so one ulp can move it by one. Passing a product through a volatile keeps the
// compiler from fusing it with the following add into an FMA (which rounds once); GCC contracts
// across statements in C++ on targets with FMA (aarch64), whatever the language standard.
inline double fp_round(double x) {
  volatile double v = x;
  return v;
}
inline float fp_round(float x) {
  volatile float v = x;
  return v;
}

// lambda = log(alpha) - log(sigma) with alpha = 1 - sigma (flow sigmas): the half log-SNR the
// multistep solvers step in. +inf at sigma 0.
inline double flow_lambda(double sigma) {
  if (sigma <= 0.0) return std::numeric_limits<double>::infinity();
  return std::log(1.0 - sigma) - std::log(sigma);
}

// Solves the small dense system A x = b (row-major n x n) by Gaussian elimination with partial
// pivoting, as torch.linalg.solve does for UniPC's rho coefficients.
std::vector<double> solve_small(std::vector<double> a, std::vector<double> b);

// float(trunc(sigma * n)): diffusers' UniPC and DPM-Solver cast the float64 timesteps to int64.
inline float truncated_timestep(double sigma, int num_train_timesteps) {
  return static_cast<float>(static_cast<int64_t>(sigma * static_cast<double>(num_train_timesteps)));
}

std::unique_ptr<Scheduler> make_unipc(Backend& backend, const UniPCConfig& config);
std::unique_ptr<Scheduler> make_dpm_solver(Backend& backend, const DPMSolverConfig& config);
std::unique_ptr<Scheduler> make_flow_match_euler(Backend& backend, const FlowMatchEulerConfig& config);

}  // namespace wan::pipeline::detail
