#pragma once
// Flow-matching schedulers of the Wan pipelines, on backend tensors.
//
// They reproduce diffusers' UniPCMultistepScheduler, DPMSolverMultistepScheduler (DPM-Solver++)
// and FlowMatchEulerDiscreteScheduler as Wan configures them (flow sigmas, a shift, final sigma 0),
// and the official Wan repository's UniPC grid. The grids are computed on the host in float64 the
// way numpy computes them, then rounded to float32 as the references store them; the per-step
// coefficients are host doubles and the tensor arithmetic is Backend::linear_combination, so the
// loop runs on whatever device holds the latents.
//
// Usage: make_scheduler(backend, config), set_timesteps(steps, shift), then for every step i
// call the transformer at timesteps()[i] and step(model_output, sample).
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ops/backend.h"

namespace wan::pipeline {

enum class SchedulerKind { UniPC, DPMSolver, FlowMatchEuler };

// Which unshifted sigma grid a UniPC schedule starts from.
enum class SigmaGrid {
  // diffusers (use_flow_sigmas): linspace(1, 1/N, steps + 1)[:-1], first sigma pulled 1e-6 below 1.
  Diffusers,
  // official Wan FlowUniPCMultistepScheduler(shift=1).set_timesteps(steps, shift):
  // linspace(float32(1 - 1/N), 0, steps + 1)[:-1].
  Wan,
};

// UniPC (bh2, predict_x0, flow_prediction): the predictor-corrector of Wan2.1/2.2's default sampler.
struct UniPCConfig {
  int num_train_timesteps = 1000;
  int solver_order = 2;  // 1 to 3
  bool lower_order_final = true;
  // Step indices i whose corrector is skipped: diffusers skips the corrector of step s when
  // s - 1 is listed (the corrector refines the sample the previous step predicted).
  std::vector<int> disable_corrector;
  SigmaGrid sigma_grid = SigmaGrid::Diffusers;
};

enum class DPMSolverType { Midpoint, Heun };

// DPM-Solver++ multistep (deterministic), flow sigmas.
struct DPMSolverConfig {
  int num_train_timesteps = 1000;
  int solver_order = 2;  // 1 to 3
  DPMSolverType solver_type = DPMSolverType::Midpoint;
  bool lower_order_final = true;
  bool euler_at_final = false;
};

// Euler on the flow ODE (deterministic).
struct FlowMatchEulerConfig {
  int num_train_timesteps = 1000;
};

struct SchedulerConfig {
  SchedulerKind kind = SchedulerKind::UniPC;
  UniPCConfig unipc;
  DPMSolverConfig dpm;
  FlowMatchEulerConfig euler;
};

class Scheduler {
 public:
  explicit Scheduler(Backend& backend) : backend_(backend) {}
  virtual ~Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  virtual const char* name() const = 0;

  // The schedule for `steps` (1..100) steps with flow shift `shift` (> 0); clears the history.
  // Bad values are E_INVALID_ARGUMENT errors naming the parameter.
  void set_timesteps(int steps, double shift);
  // An explicit schedule: one sigma per step (descending, in (0, 1], no shift applied; sigma 0 is
  // appended). Timesteps are sigma * num_train_timesteps, rounded as this scheduler rounds them.
  void set_sigmas(const std::vector<double>& sigmas);

  // What the transformer is given at each step (UniPC and DPM-Solver truncate to integers, as
  // diffusers casts them to int64; Euler keeps the fractional float32 values).
  const std::vector<float>& timesteps() const { return timesteps_; }
  // steps + 1 values, the last 0.
  const std::vector<float>& sigmas() const { return sigmas_; }
  int num_steps() const { return static_cast<int>(timesteps_.size()); }
  // Index of the next step (0 after set_timesteps).
  int step_index() const { return step_index_; }

  // Advances `sample` in place by one step, given what the model returned for it at
  // timesteps()[step_index()]. Both are float32 backend tensors of the same shape.
  void step(const Tensor& model_output, Tensor& sample);

 protected:
  // Fills sigmas_ (with the final 0) and timesteps_ for `steps` and `shift` (already validated).
  virtual void make_grid(int steps, double shift) = 0;
  // Fills sigmas_ and timesteps_ from explicit sigmas (already validated).
  virtual void make_explicit_grid(const std::vector<double>& sigmas) = 0;
  // Forgets the history of model outputs.
  virtual void reset() = 0;
  virtual void do_step(const Tensor& model_output, Tensor& sample) = 0;

  Backend& backend_;
  std::vector<float> sigmas_;
  std::vector<float> timesteps_;
  int step_index_ = 0;
};

// Throws E_INVALID_ARGUMENT naming the field for a configuration this runtime does not implement.
void validate_scheduler_config(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_scheduler(Backend& backend, const SchedulerConfig& config);

// ---- grid helpers (exposed for tests and for the pipeline's own bookkeeping)

// numpy.linspace(start, stop, num) with endpoint=True, evaluated as numpy does (k * step + start,
// last element exactly stop), so that grids round exactly like the reference's.
std::vector<double> np_linspace(double start, double stop, int num);
// The flow shift sigma' = shift * sigma / (1 + (shift - 1) * sigma), in numpy's operation order.
double flow_shift(double sigma, double shift);

}  // namespace wan::pipeline
