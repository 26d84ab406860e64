// What the three schedulers share: argument checks, the explicit-sigma path, numpy's linspace and
// the flow shift, the linear-form helper and the factory.
#include "pipeline/scheduler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "pipeline/scheduler_internal.h"


namespace wan::pipeline {

namespace {

std::string num_str(double v) {
  std::string s = std::to_string(v);
  // std::to_string prints 6 decimals; trim the zeros for messages.
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  return s;
}

void check_train_timesteps(int n, const char* where) {
  if (n < 1 || n > 100000)
    fail("E_INVALID_ARGUMENT", std::string(where) + ".num_train_timesteps must be between 1 and 100000, got " +
                                   std::to_string(n));
}

void check_order(int order, const char* where) {
  if (order < 1 || order > 3)
    fail("E_INVALID_ARGUMENT",
         std::string(where) + ".solver_order must be 1, 2 or 3, got " + std::to_string(order));
}

}  // namespace

std::vector<double> np_linspace(double start, double stop, int num) {
  std::vector<double> y;
  if (num <= 0) return y;
  y.resize(static_cast<size_t>(num));
  if (num == 1) {
    y[0] = start;  // numpy: a single sample is `start` (the step is undefined)
    return y;
  }
  const double delta = stop - start;
  const double step = delta / static_cast<double>(num - 1);
  for (int k = 0; k < num; ++k) {
    // numpy multiplies arange by step, then adds start, in two separate passes.
    y[static_cast<size_t>(k)] = detail::fp_round(static_cast<double>(k) * step) + start;
  }
  y.back() = stop;
  return y;
}

double flow_shift(double sigma, double shift) {
  const double num = shift * sigma;
  const double den = 1.0 + detail::fp_round((shift - 1.0) * sigma);
  return num / den;
}

// ---- Scheduler

void Scheduler::set_timesteps(int steps, double shift) {
  // How many steps a request may ask for is decided once, in TypeScript (lib/schemas/limits.ts
  // MAX_STEPS), and checked before any work; this side refuses only what cannot run.
  if (steps < 1) fail("E_INVALID_ARGUMENT", "steps must be an integer >= 1, got " + std::to_string(steps));
  if (!(shift > 0.0) || !std::isfinite(shift))
    fail("E_INVALID_ARGUMENT", "shift must be a finite number > 0, got " + num_str(shift));
  sigmas_.clear();
  timesteps_.clear();
  make_grid(steps, shift);
  WAN_CHECK(static_cast<int>(timesteps_.size()) == steps && sigmas_.size() == timesteps_.size() + 1,
            "scheduler grid size");
  step_index_ = 0;
  reset();
}

void Scheduler::set_sigmas(const std::vector<double>& sigmas) {
  const int steps = static_cast<int>(sigmas.size());
  if (steps < 1) fail("E_INVALID_ARGUMENT", "sigmas must hold at least one value");
  for (int i = 0; i < steps; ++i) {
    const double s = sigmas[static_cast<size_t>(i)];
    if (!std::isfinite(s) || s <= 0.0 || s > 1.0)
      fail("E_INVALID_ARGUMENT", "sigmas[" + std::to_string(i) + "] must lie in (0, 1], got " + num_str(s));
    // A repeated sigma makes the multistep solvers divide by a zero step (h = 0).
    if (i > 0 && !(s < sigmas[static_cast<size_t>(i - 1)]))
      fail("E_INVALID_ARGUMENT", "sigmas must be strictly decreasing (sigmas[" + std::to_string(i) + "] = " +
                                     num_str(s) + ")");
  }
  sigmas_.clear();
  timesteps_.clear();
  make_explicit_grid(sigmas);
  WAN_CHECK(static_cast<int>(timesteps_.size()) == steps && sigmas_.size() == timesteps_.size() + 1,
            "scheduler grid size");
  step_index_ = 0;
  reset();
}

void Scheduler::step(const Tensor& model_output, Tensor& sample) {
  if (timesteps_.empty()) fail("E_INVALID_ARGUMENT", std::string(name()) + ": set_timesteps was not called");
  if (step_index_ >= num_steps())
    fail("E_INVALID_ARGUMENT", std::string(name()) + ": all " + std::to_string(num_steps()) +
                                   " steps were taken already");
  if (model_output.dtype() != DType::F32 || sample.dtype() != DType::F32)
    fail("E_INVALID_ARGUMENT", std::string(name()) + ": step() needs float32 tensors");
  if (model_output.shape() != sample.shape())
    fail("E_INVALID_ARGUMENT", std::string(name()) + ": model output " + shape_str(model_output.shape()) +
                                   " does not match the sample " + shape_str(sample.shape()));
  do_step(model_output, sample);
  ++step_index_;
}

// ---- config and factory

void validate_scheduler_config(const SchedulerConfig& c) {
  switch (c.kind) {
    case SchedulerKind::UniPC: {
      check_train_timesteps(c.unipc.num_train_timesteps, "unipc");
      check_order(c.unipc.solver_order, "unipc");
      // Without lower_order_final the last step is a higher-order step onto sigma 0, where the
      // reference divides by a zero ratio (rk = finite / inf) and returns NaN.
      if (!c.unipc.lower_order_final && c.unipc.solver_order > 1)
        fail("E_INVALID_ARGUMENT",
             "unipc.lower_order_final = false is not implemented with solver_order > 1 (the final step onto "
             "sigma 0 is undefined)");
      break;
    }
    case SchedulerKind::DPMSolver:
      check_train_timesteps(c.dpm.num_train_timesteps, "dpm");
      check_order(c.dpm.solver_order, "dpm");
      break;
    case SchedulerKind::FlowMatchEuler:
      check_train_timesteps(c.euler.num_train_timesteps, "euler");
      break;
  }
}

std::unique_ptr<Scheduler> make_scheduler(Backend& backend, const SchedulerConfig& config) {
  validate_scheduler_config(config);
  switch (config.kind) {
    case SchedulerKind::UniPC:
      return detail::make_unipc(backend, config.unipc);
    case SchedulerKind::DPMSolver:
      return detail::make_dpm_solver(backend, config.dpm);
    case SchedulerKind::FlowMatchEuler:
      return detail::make_flow_match_euler(backend, config.euler);
  }
  fail("E_INVALID_ARGUMENT", "unknown scheduler kind");
}

namespace detail {

void LinearForm::assign_to(Backend& backend, Tensor& out) const {
  std::vector<std::pair<float, const Tensor*>> terms;
  terms.reserve(terms_.size());
  for (const auto& [c, t] : terms_) {
    WAN_CHECK(std::isfinite(c), "scheduler coefficient is not finite");
    if (c != 0.0) terms.emplace_back(static_cast<float>(c), t);
  }
  backend.linear_combination(out, terms);
}

std::vector<double> solve_small(std::vector<double> a, std::vector<double> b) {
  const size_t n = b.size();
  WAN_CHECK(a.size() == n * n, "solve_small shapes");
  for (size_t col = 0; col < n; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < n; ++r)
      if (std::fabs(a[r * n + col]) > std::fabs(a[pivot * n + col])) pivot = r;
    WAN_CHECK(a[pivot * n + col] != 0.0, "singular UniPC system");
    if (pivot != col) {
      for (size_t k = 0; k < n; ++k) std::swap(a[col * n + k], a[pivot * n + k]);
      std::swap(b[col], b[pivot]);
    }
    for (size_t r = col + 1; r < n; ++r) {
      const double f = a[r * n + col] / a[col * n + col];
      for (size_t k = col; k < n; ++k) a[r * n + k] -= f * a[col * n + k];
      b[r] -= f * b[col];
    }
  }
  std::vector<double> x(n);
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t k = i + 1; k < n; ++k) s -= a[i * n + k] * x[k];
    x[i] = s / a[i * n + i];
  }
  return x;
}

}  // namespace detail
}  // namespace wan::pipeline
