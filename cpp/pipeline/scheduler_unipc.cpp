// UniPC multistep (Zhao et al. 2023) in the form Wan samples with: diffusers' UniPCMultistepScheduler
// with prediction_type flow_prediction, use_flow_sigmas, predict_x0, solver_type bh2 (B(h) = e^h - 1),
// final sigma 0; and the official Wan repository's FlowUniPCMultistepScheduler, which runs the same
// update on a slightly different sigma grid.
//
// Each step i (sigma_i -> sigma_{i+1}):
//   1. convert the model's velocity to a data prediction m_i = x - sigma_i * v;
//   2. corrector (UniC, i > 0): refine the sample the previous predictor produced, using m_i;
//   3. predictor (UniP): extrapolate from the data predictions m_i, m_{i-1}, ... to sigma_{i+1}.
// The order ramps up from 1 (one prediction known) and, with lower_order_final, drops at the end.
#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "pipeline/scheduler_internal.h"

namespace wan::pipeline::detail {

namespace {

// The b vector of UniPC's order conditions: b_k = h*phi_k(hh) * k! / B(h), k = 1..order, from the
// recurrence phi_{k+1} = phi_k / hh - 1/(k+1)! that diffusers uses.
std::vector<double> unipc_b(double hh, double h_phi_1, double b_h, int order) {
  std::vector<double> b;
  double h_phi_k = h_phi_1 / hh - 1.0;
  double factorial = 1.0;
  for (int k = 1; k <= order; ++k) {
    b.push_back(h_phi_k * factorial / b_h);
    factorial *= static_cast<double>(k + 1);
    h_phi_k = h_phi_k / hh - 1.0 / factorial;
  }
  return b;
}

// R[j][c] = rks[c]^j, the Vandermonde-like matrix of the order conditions (n x n, row-major).
std::vector<double> unipc_r(const std::vector<double>& rks, size_t n) {
  std::vector<double> r(n * n);
  for (size_t j = 0; j < n; ++j)
    for (size_t c = 0; c < n; ++c) r[j * n + c] = std::pow(rks[c], static_cast<double>(j));
  return r;
}

class UniPCScheduler final : public Scheduler {
 public:
  UniPCScheduler(Backend& backend, const UniPCConfig& config) : Scheduler(backend), cfg_(config) {}

  const char* name() const override { return "UniPCMultistepScheduler"; }

 protected:
  void make_grid(int steps, double shift) override {
    const int n_train = cfg_.num_train_timesteps;
    std::vector<double> s;
    if (cfg_.sigma_grid == SigmaGrid::Wan) {
      // FlowUniPCMultistepScheduler(shift=1): its training sigmas are 1 - linspace(1, 1/N, N)
      // reversed, stored as float32; set_timesteps spans linspace(sigma_max, sigma_min = 0).
      const double sigma_max = static_cast<double>(static_cast<float>(1.0 - 1.0 / static_cast<double>(n_train)));
      s = np_linspace(sigma_max, 0.0, steps + 1);
      s.pop_back();
      for (double& v : s) v = flow_shift(v, shift);
      finish_grid(s, /*guard_one=*/false);
    } else {
      s = np_linspace(1.0, 1.0 / static_cast<double>(n_train), steps + 1);
      s.pop_back();
      for (double& v : s) v = flow_shift(v, shift);
      finish_grid(s, /*guard_one=*/true);
    }
  }

  // diffusers' set_timesteps(sigmas=...) path, without its flow shift: the sigmas are the schedule.
  void make_explicit_grid(const std::vector<double>& sigmas) override { finish_grid(sigmas, /*guard_one=*/true); }

  void reset() override {
    history_.clear();
    have_last_ = false;
    lower_order_nums_ = 0;
    this_order_ = 0;
  }

  void do_step(const Tensor& model_output, Tensor& sample) override {
    const int i = step_index_;
    const int n = num_steps();

    // 1. data prediction x0 = x - sigma * v, into a buffer of its own (it joins the history).
    Tensor x0 = take_buffer(sample.shape());
    (LinearForm(sample) - static_cast<double>(sigmas_[static_cast<size_t>(i)]) * LinearForm(model_output))
        .assign_to(backend_, x0);

    // 2. corrector of the previous prediction (diffusers lists the previous step's index to skip it).
    const bool disabled = std::find(cfg_.disable_corrector.begin(), cfg_.disable_corrector.end(), i - 1) !=
                          cfg_.disable_corrector.end();
    if (i > 0 && have_last_ && !disabled) correct(x0, sample);

    // The new prediction becomes m0; the history keeps solver_order of them.
    history_.push_back(x0);
    if (static_cast<int>(history_.size()) > cfg_.solver_order) {
      spare_ = history_.front();
      history_.erase(history_.begin());
    }

    int order = cfg_.lower_order_final ? std::min(cfg_.solver_order, n - i) : cfg_.solver_order;
    order = std::min(order, lower_order_nums_ + 1);  // warm-up: only as many points as are known
    this_order_ = order;

    // The corrector of the next step starts again from the sample before this prediction.
    if (!last_sample_.defined() || last_sample_.shape() != sample.shape()) last_sample_ = backend_.empty(sample.shape());
    backend_.copy(sample, last_sample_);
    have_last_ = true;

    predict(sample, order);
    if (lower_order_nums_ < cfg_.solver_order) ++lower_order_nums_;
  }

 private:
  void finish_grid(std::vector<double> s, bool guard_one) {
    // diffusers keeps the first sigma off 1, where alpha = 0 and log(alpha) = -inf; the official
    // Wan grid never reaches 1.
    if (guard_one && std::fabs(s[0] - 1.0) < 1e-6) s[0] -= 1e-6;
    for (double v : s) {
      timesteps_.push_back(truncated_timestep(v, cfg_.num_train_timesteps));
      sigmas_.push_back(static_cast<float>(v));
    }
    sigmas_.push_back(0.0f);  // final_sigmas_type "zero"
  }

  Tensor take_buffer(const Shape& shape) {
    if (spare_.defined() && spare_.shape() == shape) {
      Tensor t = spare_;
      spare_ = Tensor();
      return t;
    }
    return backend_.empty(shape);
  }

  // m_k of the history: 0 is the newest.
  const Tensor& m(int k) const { return history_[history_.size() - 1 - static_cast<size_t>(k)]; }

  // UniP with B(h) = expm1(hh): x_t = sigma_t/sigma_s0 x - alpha_t h_phi_1 m0 - alpha_t B(h) sum rho_k D1_k,
  // D1_k = (m_k - m0) / r_k.
  void predict(Tensor& x, int order) {
    const int i = step_index_;
    const double sigma_t = sigmas_[static_cast<size_t>(i + 1)];
    const double sigma_s0 = sigmas_[static_cast<size_t>(i)];
    const double alpha_t = 1.0 - sigma_t;
    const double lambda_s0 = flow_lambda(sigma_s0);
    double h = 0, hh = 0, h_phi_1 = 0, b_h = 0;
    if (sigma_t == 0.0) {
      // Onto sigma 0: h = +inf, e^{-h} - 1 = -1 (the limits the reference's float math reaches).
      WAN_CHECK(order == 1, "UniPC: a higher-order step onto sigma 0");
      h = std::numeric_limits<double>::infinity();
      hh = -h;
      h_phi_1 = -1.0;
      b_h = -1.0;
    } else {
      h = flow_lambda(sigma_t) - lambda_s0;
      hh = -h;  // predict_x0
      h_phi_1 = std::expm1(hh);
      b_h = std::expm1(hh);  // bh2
    }

    std::vector<double> rks;
    for (int k = 1; k < order; ++k) rks.push_back((flow_lambda(sigmas_[static_cast<size_t>(i - k)]) - lambda_s0) / h);

    std::vector<double> rhos;
    if (order == 2) {
      rhos = {0.5};  // diffusers fixes rho at 1/2 for the second-order predictor
    } else if (order > 2) {
      std::vector<double> all_rks = rks;
      all_rks.push_back(1.0);
      const size_t k = static_cast<size_t>(order - 1);
      const std::vector<double> r_full = unipc_r(all_rks, static_cast<size_t>(order));
      std::vector<double> r(k * k);
      for (size_t a = 0; a < k; ++a)
        for (size_t c = 0; c < k; ++c) r[a * k + c] = r_full[a * static_cast<size_t>(order) + c];
      std::vector<double> b = unipc_b(hh, h_phi_1, b_h, order);
      b.pop_back();
      rhos = solve_small(r, b);
    }

    LinearForm res;
    for (int k = 1; k < order; ++k)
      res += (rhos[static_cast<size_t>(k - 1)] / rks[static_cast<size_t>(k - 1)]) * (LinearForm(m(k)) - LinearForm(m(0)));
    LinearForm xt = (sigma_t / sigma_s0) * LinearForm(x) - (alpha_t * h_phi_1) * LinearForm(m(0));
    if (order > 1) xt -= (alpha_t * b_h) * res;
    xt.assign_to(backend_, x);
  }

  // UniC: x_t = sigma_t/sigma_s0 x_prev - alpha_t h_phi_1 m0
  //             - alpha_t B(h) (sum rho_k D1_k + rho_last (model_t - m0)),
  // where x_prev is the sample before the previous prediction, m0 the previous data prediction and
  // model_t the new one; `order` is the previous predictor's.
  void correct(const Tensor& model_t, Tensor& x_out) {
    const int i = step_index_;
    const int order = this_order_;
    const double sigma_t = sigmas_[static_cast<size_t>(i)];
    const double sigma_s0 = sigmas_[static_cast<size_t>(i - 1)];
    const double alpha_t = 1.0 - sigma_t;
    const double lambda_s0 = flow_lambda(sigma_s0);
    const double h = flow_lambda(sigma_t) - lambda_s0;
    const double hh = -h;
    const double h_phi_1 = std::expm1(hh);
    const double b_h = std::expm1(hh);

    std::vector<double> rks;
    for (int k = 1; k < order; ++k)
      rks.push_back((flow_lambda(sigmas_[static_cast<size_t>(i - (k + 1))]) - lambda_s0) / h);

    std::vector<double> rhos;
    if (order == 1) {
      rhos = {0.5};
    } else {
      std::vector<double> all_rks = rks;
      all_rks.push_back(1.0);
      rhos = solve_small(unipc_r(all_rks, static_cast<size_t>(order)), unipc_b(hh, h_phi_1, b_h, order));
    }

    LinearForm corr;
    for (int k = 1; k < order; ++k)
      corr += (rhos[static_cast<size_t>(k - 1)] / rks[static_cast<size_t>(k - 1)]) * (LinearForm(m(k)) - LinearForm(m(0)));
    corr += rhos.back() * (LinearForm(model_t) - LinearForm(m(0)));
    LinearForm xt = (sigma_t / sigma_s0) * LinearForm(last_sample_) - (alpha_t * h_phi_1) * LinearForm(m(0)) -
                    (alpha_t * b_h) * corr;
    xt.assign_to(backend_, x_out);
  }

  UniPCConfig cfg_;
  std::vector<Tensor> history_;  // data predictions, oldest first
  Tensor spare_;                 // a retired history buffer, reused for the next prediction
  Tensor last_sample_;
  bool have_last_ = false;
  int lower_order_nums_ = 0;
  int this_order_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_unipc(Backend& backend, const UniPCConfig& config) {
  return std::make_unique<UniPCScheduler>(backend, config);
}

}  // namespace wan::pipeline::detail
