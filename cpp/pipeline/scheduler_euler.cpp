// Euler on the flow ODE, as diffusers' FlowMatchEulerDiscreteScheduler: x <- x + (sigma_{i+1} - sigma_i) v.
// Its grid is its own: the training sigmas t/N (t = 1..N, float32) shifted once in float32 at
// construction give sigma_max and sigma_min, set_timesteps spans linspace(sigma_max N, sigma_min N)
// and shifts again (so the shift is applied twice to the ends of the range, as the reference does).
// Timesteps keep their fractions.
#include <cmath>

#include "core/error.h"
#include "pipeline/scheduler_internal.h"

namespace wan::pipeline::detail {

namespace {

// shift * s / (1 + (shift - 1) * s) evaluated in float32, as torch does on the float32 training sigmas.
float flow_shift_f32(float s, double shift) {
  const float num = static_cast<float>(shift) * s;
  const float scaled = static_cast<float>(shift - 1.0) * s;
  const float den = 1.0f + fp_round(scaled);
  return num / den;
}

class FlowMatchEulerScheduler final : public Scheduler {
 public:
  FlowMatchEulerScheduler(Backend& backend, const FlowMatchEulerConfig& config) : Scheduler(backend), cfg_(config) {}

  const char* name() const override { return "FlowMatchEulerDiscreteScheduler"; }

 protected:
  void make_grid(int steps, double shift) override {
    const int n_train = cfg_.num_train_timesteps;
    const float n_f = static_cast<float>(n_train);
    // Training sigmas run from N/N = 1 down to 1/N (float32 division).
    const double sigma_max = flow_shift_f32(n_f / n_f, shift);
    const double sigma_min = flow_shift_f32(1.0f / n_f, shift);
    const double n_d = static_cast<double>(n_train);
    const std::vector<double> t = np_linspace(sigma_max * n_d, sigma_min * n_d, steps);
    std::vector<double> s;
    for (double v : t) s.push_back(flow_shift(v / n_d, shift));
    make_explicit_grid(s);
  }

  void make_explicit_grid(const std::vector<double>& sigmas) override {
    const float n_f = static_cast<float>(cfg_.num_train_timesteps);
    for (double v : sigmas) {
      const float s = static_cast<float>(v);
      sigmas_.push_back(s);
      timesteps_.push_back(s * n_f);  // float32 tensor times N
    }
    sigmas_.push_back(0.0f);
  }

  void reset() override {}

  void do_step(const Tensor& model_output, Tensor& sample) override {
    const size_t i = static_cast<size_t>(step_index_);
    const float dt = sigmas_[i + 1] - sigmas_[i];  // float32, as the reference subtracts its sigmas
    (LinearForm(sample) + static_cast<double>(dt) * LinearForm(model_output)).assign_to(backend_, sample);
  }

 private:
  FlowMatchEulerConfig cfg_;
};

}  // namespace

std::unique_ptr<Scheduler> make_flow_match_euler(Backend& backend, const FlowMatchEulerConfig& config) {
  return std::make_unique<FlowMatchEulerScheduler>(backend, config);
}

}  // namespace wan::pipeline::detail
