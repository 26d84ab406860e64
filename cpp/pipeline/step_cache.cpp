#include "pipeline/step_cache.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace wan::pipeline {

void validate_step_cache_config(const StepCacheConfig& c) {
  if (c.kind == StepCacheKind::None) return;
  if (!std::isfinite(c.threshold)) fail("E_INVALID_ARGUMENT", "cache.threshold must be a finite number");
  if (c.start_step < 0) fail("E_INVALID_ARGUMENT", "cache.startStep must be >= 0");
  if (c.end_step >= 0 && c.end_step <= c.start_step)
    fail("E_INVALID_ARGUMENT", "cache.endStep must be greater than cache.startStep");
  if (c.start_call < 0) fail("E_INVALID_ARGUMENT", "cache.startCall must be >= 0");
  if (c.end_call >= 0 && c.end_call <= c.start_call)
    fail("E_INVALID_ARGUMENT", "cache.endCall must be greater than cache.startCall");
  if (c.max_consecutive < 0) fail("E_INVALID_ARGUMENT", "cache.maxConsecutive must be >= 0 (0: no limit)");
  if (c.kind == StepCacheKind::TeaCache) {
    if (c.coefficients.empty())
      fail("E_INVALID_ARGUMENT", "cache.coefficients: TeaCache needs its rescaling polynomial (highest power first)");
    for (double v : c.coefficients)
      if (!std::isfinite(v)) fail("E_INVALID_ARGUMENT", "cache.coefficients must be finite numbers");
  }
}

StepCache::StepCache(Backend& backend, StepCacheConfig config) : backend_(backend), config_(std::move(config)) {
  validate_step_cache_config(config_);
}

void StepCache::reset() { streams_.clear(); }

StepCache::Stream& StepCache::stream(int index) {
  if (index < 0) fail("E_INVALID_ARGUMENT", "step cache stream must be >= 0");
  if (static_cast<size_t>(index) >= streams_.size()) streams_.resize(index + 1);
  return streams_[index];
}

bool StepCache::in_window(int step, int call) const {
  return step >= config_.start_step && (config_.end_step < 0 || step < config_.end_step) && call >= config_.start_call &&
         (config_.end_call < 0 || call < config_.end_call);
}

Tensor StepCache::forward(dit::WanDit& model, const dit::DitInputs& in, int stream_index, int step) {
  CacheCall call;
  if (config_.kind == StepCacheKind::None) {
    Tensor out = model.forward(in);
    calls_.push_back(call);
    return out;
  }
  Stream& s = stream(stream_index);
  const bool limit_reached = config_.max_consecutive > 0 && s.skipped_in_a_row >= config_.max_consecutive;
  const bool may_skip = in_window(step, static_cast<int>(calls_.size())) && !limit_reached;
  Tensor out = config_.kind == StepCacheKind::TeaCache ? forward_teacache(model, in, s, may_skip, call)
                                                       : forward_first_block(model, in, s, may_skip, call);
  s.skipped_in_a_row = call.computed ? 0 : s.skipped_in_a_row + 1;
  calls_.push_back(call);
  return out;
}

namespace {

// numpy.poly1d: coefficients from the highest power down.
double polynomial(const std::vector<double>& coefficients, double x) {
  double y = 0;
  for (double c : coefficients) y = y * x + c;
  return y;
}

// dst = a - b, allocating dst on first use.
void difference(Backend& be, const Tensor& a, const Tensor& b, Tensor& dst) {
  if (!dst.defined() || dst.shape() != a.shape()) dst = be.empty(a.shape());
  be.linear_combination(dst, {{1.0f, &a}, {-1.0f, &b}});
}

Tensor copy_of(Backend& be, const Tensor& t) {
  Tensor c = be.empty(t.shape());
  be.copy(t, c);
  return c;
}

}  // namespace

Tensor StepCache::forward_teacache(dit::WanDit& model, const dit::DitInputs& in, Stream& s, bool may_skip,
                                   CacheCall& call) {
  dit::DitPass pass = model.begin(in);
  const Tensor& m = config_.indicator == TeaCacheIndicator::TimeEmbedding ? pass.temb : pass.timestep_proj;
  std::vector<float> current(static_cast<size_t>(m.numel()));
  backend_.download(m, current.data());

  bool compute = true;
  if (may_skip && s.residual.defined() && s.indicator.size() == current.size()) {
    double changed = 0, previous = 0;
    for (size_t i = 0; i < current.size(); ++i) {
      changed += std::fabs(static_cast<double>(current[i]) - s.indicator[i]);
      previous += std::fabs(static_cast<double>(s.indicator[i]));
    }
    // The ratio of two means over the same count: the counts cancel.
    s.accumulated += polynomial(config_.coefficients, previous > 0 ? changed / previous : INFINITY);
    compute = !(s.accumulated < config_.threshold);
  }
  if (compute) s.accumulated = 0;
  s.indicator = std::move(current);

  if (compute) {
    Tensor before = copy_of(backend_, pass.x);
    model.run_blocks(pass, 0, model.config().num_layers);
    difference(backend_, pass.x, before, s.residual);
  } else {
    backend_.add_gated(pass.x, s.residual, nullptr, 0);
  }
  call.computed = compute;
  call.accumulated = s.accumulated;
  return model.finish(pass);
}

Tensor StepCache::forward_first_block(dit::WanDit& model, const dit::DitInputs& in, Stream& s, bool may_skip,
                                      CacheCall& call) {
  const int layers = model.config().num_layers;
  dit::DitPass pass = model.begin(in);
  Tensor before = copy_of(backend_, pass.x);
  model.run_blocks(pass, 0, std::min(1, layers));
  Tensor head_residual;
  difference(backend_, pass.x, before, head_residual);

  bool compute = true;
  if (may_skip && layers > 1 && s.head_residual.defined() && s.residual.defined()) {
    const double previous = backend_.mean_abs_difference(s.head_residual, nullptr);
    const double changed = backend_.mean_abs_difference(head_residual, &s.head_residual);
    compute = !(previous > 0) || changed / previous > config_.threshold;
  }
  if (compute) {
    backend_.copy(pass.x, before);  // block 0's output: the tail residual is measured from it
    model.run_blocks(pass, 1, layers);
    difference(backend_, pass.x, before, s.residual);
    s.head_residual = std::move(head_residual);
  } else {
    backend_.add_gated(pass.x, s.residual, nullptr, 0);
  }
  call.computed = compute;
  return model.finish(pass);
}

}  // namespace wan::pipeline
