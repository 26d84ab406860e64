// DPM-Solver++ multistep (Lu et al. 2022), deterministic, as diffusers' DPMSolverMultistepScheduler
// runs it with prediction_type flow_prediction, use_flow_sigmas and final sigma 0 (the "DPM++ 2M"
// sampler Wan offers beside UniPC). Every step converts the velocity to a data prediction
// m_i = x - sigma_i v and extrapolates from the last one, two or three of them in lambda =
// log(alpha / sigma).
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "pipeline/scheduler_internal.h"

namespace wan::pipeline::detail {

namespace {

class DPMSolverScheduler final : public Scheduler {
 public:
  DPMSolverScheduler(Backend& backend, const DPMSolverConfig& config) : Scheduler(backend), cfg_(config) {}

  const char* name() const override { return "DPMSolverMultistepScheduler"; }

 protected:
  void make_grid(int steps, double shift) override {
    // diffusers: alphas = linspace(1, 1/N, steps + 1); sigmas = flip(shift(1 - alphas))[:-1], so
    // the grid starts at shift(1 - 1/N) and never reaches sigma 1.
    const int n_train = cfg_.num_train_timesteps;
    const std::vector<double> alphas = np_linspace(1.0, 1.0 / static_cast<double>(n_train), steps + 1);
    std::vector<double> s;
    for (int j = 0; j < steps; ++j) s.push_back(flow_shift(1.0 - alphas[static_cast<size_t>(steps - j)], shift));
    make_explicit_grid(s);
  }

  void make_explicit_grid(const std::vector<double>& sigmas) override {
    // At sigma 1 alpha is 0 and lambda is -inf: the second-order ratio would be inf / finite.
    if (sigmas[0] >= 1.0) fail("E_INVALID_ARGUMENT", "DPM-Solver++ needs sigmas below 1 (sigmas[0] is 1)");
    for (double v : sigmas) {
      timesteps_.push_back(truncated_timestep(v, cfg_.num_train_timesteps));
      sigmas_.push_back(static_cast<float>(v));
    }
    sigmas_.push_back(0.0f);  // final_sigmas_type "zero"
  }

  void reset() override {
    history_.clear();
    lower_order_nums_ = 0;
  }

  void do_step(const Tensor& model_output, Tensor& sample) override {
    const int i = step_index_;
    const int n = num_steps();
    // The step onto the final sigma 0 is first order: diffusers takes it whenever
    // final_sigmas_type is "zero" (the only final sigma implemented), whatever euler_at_final and
    // lower_order_final say.
    const bool lower_order_final = i == n - 1;
    const bool lower_order_second = i == n - 2 && cfg_.lower_order_final && n < 15;

    Tensor x0 = take_buffer(sample.shape());
    (LinearForm(sample) - static_cast<double>(sigmas_[static_cast<size_t>(i)]) * LinearForm(model_output))
        .assign_to(backend_, x0);
    history_.push_back(x0);
    if (static_cast<int>(history_.size()) > cfg_.solver_order) {
      spare_ = history_.front();
      history_.erase(history_.begin());
    }

    if (cfg_.solver_order == 1 || lower_order_nums_ < 1 || lower_order_final)
      first_order(sample);
    else if (cfg_.solver_order == 2 || lower_order_nums_ < 2 || lower_order_second)
      second_order(sample);
    else
      third_order(sample);
    if (lower_order_nums_ < cfg_.solver_order) ++lower_order_nums_;
  }

 private:
  Tensor take_buffer(const Shape& shape) {
    if (spare_.defined() && spare_.shape() == shape) {
      Tensor t = spare_;
      spare_ = Tensor();
      return t;
    }
    return backend_.empty(shape);
  }

  const Tensor& m(int k) const { return history_[history_.size() - 1 - static_cast<size_t>(k)]; }
  double sigma(int offset) const { return sigmas_[static_cast<size_t>(step_index_ + offset)]; }

  // e^{-h} for the step sigma_i -> sigma_{i+1}; 0 when landing on sigma 0 (h = +inf).
  static double exp_neg(double h) { return std::isinf(h) ? 0.0 : std::exp(-h); }

  // x_t = sigma_t / sigma_s x - alpha_t (e^{-h} - 1) m0  (DDIM in data-prediction form)
  void first_order(Tensor& x) {
    const double sigma_t = sigma(1), sigma_s = sigma(0);
    const double alpha_t = 1.0 - sigma_t;
    const double h = flow_lambda(sigma_t) - flow_lambda(sigma_s);
    const LinearForm xt =
        (sigma_t / sigma_s) * LinearForm(x) - (alpha_t * (exp_neg(h) - 1.0)) * LinearForm(m(0));
    xt.assign_to(backend_, x);
  }

  // D0 = m0, D1 = (m0 - m1) / r0 with r0 = h_0 / h.
  void second_order(Tensor& x) {
    const double sigma_t = sigma(1), sigma_s0 = sigma(0), sigma_s1 = sigma(-1);
    const double alpha_t = 1.0 - sigma_t;
    const double lambda_t = flow_lambda(sigma_t), lambda_s0 = flow_lambda(sigma_s0), lambda_s1 = flow_lambda(sigma_s1);
    const double h = lambda_t - lambda_s0, h_0 = lambda_s0 - lambda_s1;
    const double r0 = h_0 / h;
    const double em1 = exp_neg(h) - 1.0;
    const LinearForm d0 = m(0);
    const LinearForm d1 = (1.0 / r0) * (LinearForm(m(0)) - LinearForm(m(1)));
    LinearForm xt = (sigma_t / sigma_s0) * LinearForm(x) - (alpha_t * em1) * d0;
    if (cfg_.solver_type == DPMSolverType::Midpoint)
      xt -= (0.5 * (alpha_t * em1)) * d1;
    else
      xt += (alpha_t * (em1 / h + 1.0)) * d1;
    xt.assign_to(backend_, x);
  }

  void third_order(Tensor& x) {
    const double sigma_t = sigma(1), sigma_s0 = sigma(0), sigma_s1 = sigma(-1), sigma_s2 = sigma(-2);
    const double alpha_t = 1.0 - sigma_t;
    const double lambda_t = flow_lambda(sigma_t), lambda_s0 = flow_lambda(sigma_s0);
    const double lambda_s1 = flow_lambda(sigma_s1), lambda_s2 = flow_lambda(sigma_s2);
    const double h = lambda_t - lambda_s0, h_0 = lambda_s0 - lambda_s1, h_1 = lambda_s1 - lambda_s2;
    const double r0 = h_0 / h, r1 = h_1 / h;
    const double em1 = exp_neg(h) - 1.0;
    const LinearForm d1_0 = (1.0 / r0) * (LinearForm(m(0)) - LinearForm(m(1)));
    const LinearForm d1_1 = (1.0 / r1) * (LinearForm(m(1)) - LinearForm(m(2)));
    const LinearForm d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1);
    const LinearForm d2 = (1.0 / (r0 + r1)) * (d1_0 - d1_1);
    const LinearForm xt = (sigma_t / sigma_s0) * LinearForm(x) - (alpha_t * em1) * LinearForm(m(0)) +
                          (alpha_t * (em1 / h + 1.0)) * d1 - (alpha_t * ((em1 + h) / (h * h) - 0.5)) * d2;
    xt.assign_to(backend_, x);
  }

  DPMSolverConfig cfg_;
  std::vector<Tensor> history_;  // data predictions, oldest first
  Tensor spare_;
  int lower_order_nums_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_dpm_solver(Backend& backend, const DPMSolverConfig& config) {
  return std::make_unique<DPMSolverScheduler>(backend, config);
}

}  // namespace wan::pipeline::detail
