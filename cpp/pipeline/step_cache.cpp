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
  if (c.kind == StepCacheKind::DualBlock) {
    const DualBlockConfig& d = c.dual_block;
    if (d.fn_blocks < 1) fail("E_INVALID_ARGUMENT", "cache.fnBlocks must be >= 1 (its residual decides)");
    if (d.bn_blocks < 0) fail("E_INVALID_ARGUMENT", "cache.bnBlocks must be >= 0");
    if (d.warmup_steps < 0) fail("E_INVALID_ARGUMENT", "cache.warmupSteps must be >= 0");
    if (d.warmup_interval < 1) fail("E_INVALID_ARGUMENT", "cache.warmupInterval must be >= 1");
    if (d.max_cached_steps < -1) fail("E_INVALID_ARGUMENT", "cache.maxCachedSteps must be >= 0 (-1: no limit)");
  }
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

void StepCache::reset() {
  streams_.clear();
  first_step_ = -1;
}

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
  if (first_step_ < 0) first_step_ = step;
  const bool window = in_window(step, static_cast<int>(calls_.size()));
  Tensor out;
  if (config_.kind == StepCacheKind::DualBlock) {
    // DBCache bounds consecutive cached calls with cache-dit's own counter.
    out = forward_dual_block(model, in, s, window, step - first_step_, call);
  } else {
    const bool limit_reached = config_.max_consecutive > 0 && s.skipped_in_a_row >= config_.max_consecutive;
    const bool may_skip = window && !limit_reached;
    out = config_.kind == StepCacheKind::TeaCache ? forward_teacache(model, in, s, may_skip, call)
                                                  : forward_first_block(model, in, s, may_skip, call);
  }
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

// cache-dit's CachedContextManager.can_cache for one call at step `step` of the expert (its context's
// current step; cond and uncond share it), in cache-dit's order: warmup, the cached-step bound, the
// continuous-cached bound (which clears the counter when it forces a computing call), the threshold,
// then the relative L1 difference of the Fn residuals, strictly below the threshold. A threshold of
// 1 or more reuses whenever there is something to reuse; 0 or less never does. A zero previous
// residual gives NaN or infinity, never below the threshold, as in torch.
bool StepCache::dual_block_may_cache(Stream& s, int step, const Tensor& fn_residual) {
  const DualBlockConfig& d = config_.dual_block;
  if (step < d.warmup_steps && step % d.warmup_interval == 0) return false;
  if (d.max_cached_steps >= 0 && s.cached_steps >= d.max_cached_steps) return false;
  if (config_.max_consecutive > 0 && s.continuous_cached >= config_.max_consecutive) {
    s.continuous_cached = 0;
    return false;
  }
  if (!(config_.threshold > 0)) return false;
  if (!s.head_residual.defined() || !s.residual.defined() || s.head_residual.shape() != fn_residual.shape()) return false;
  if (config_.threshold >= 1) return true;
  const double previous = backend_.mean_abs_difference(s.head_residual, nullptr);
  const double changed = backend_.mean_abs_difference(s.head_residual, &fn_residual);
  return changed / previous < config_.threshold;
}

Tensor StepCache::forward_dual_block(dit::WanDit& model, const dit::DitInputs& in, Stream& s, bool may_skip, int step,
                                     CacheCall& call) {
  const int layers = model.config().num_layers;
  const DualBlockConfig& d = config_.dual_block;
  if (d.fn_blocks > layers || d.bn_blocks > layers)
    fail("E_INVALID_ARGUMENT", "cache: DBCache's fnBlocks (" + std::to_string(d.fn_blocks) + ") and bnBlocks (" +
                                   std::to_string(d.bn_blocks) + ") must each be at most the transformer's " +
                                   std::to_string(layers) + " blocks");
  // cache-dit's ranges: Fn = blocks[:fn], the middle = blocks[fn:N-bn] (empty when the two overlap),
  // Bn = blocks[N-bn:]. Where fn + bn > N the blocks in both ranges run twice in every call, as
  // cache-dit runs them (TypeScript warns about it).
  const int middle_end = std::max(d.fn_blocks, layers - d.bn_blocks);
  const int last_begin = layers - d.bn_blocks;
  dit::DitPass pass = model.begin(in);
  Tensor before = copy_of(backend_, pass.x);
  model.run_blocks(pass, 0, d.fn_blocks);
  Tensor fn_residual;
  difference(backend_, pass.x, before, fn_residual);

  const bool cache = may_skip && dual_block_may_cache(s, step, fn_residual);
  if (cache) {
    // cache-dit's add_cached_step: +1 for the first cached step, +1 (or +2 from 0) for one right
    // after the previous cached step, unchanged otherwise; only the bound above clears it.
    if (s.cached_steps == 0) s.continuous_cached += 1;
    else if (step - s.last_cached_step == 1) s.continuous_cached += s.continuous_cached == 0 ? 2 : 1;
    s.last_cached_step = step;
    ++s.cached_steps;
    backend_.add_gated(pass.x, s.residual, nullptr, 0);
  } else {
    s.head_residual = std::move(fn_residual);
    backend_.copy(pass.x, before);  // the middle blocks' input: their residual is measured from it
    model.run_blocks(pass, d.fn_blocks, middle_end);
    difference(backend_, pass.x, before, s.residual);
  }
  model.run_blocks(pass, last_begin, layers);
  call.computed = !cache;
  return model.finish(pass);
}

}  // namespace wan::pipeline
