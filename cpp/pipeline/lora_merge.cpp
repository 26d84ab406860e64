#include "pipeline/lora_merge.h"

#include <chrono>
#include <set>

#include "core/error.h"

namespace wan::pipeline {

WeightPatcher::WeightPatcher(Backend& backend, std::map<std::string, Tensor> params)
    : backend_(backend), params_(std::move(params)) {}

size_t WeightPatcher::base_bytes() const {
  size_t n = 0;
  for (const auto& [name, t] : base_) n += t.bytes();
  return n;
}

void WeightPatcher::restore() {
  for (const std::string& name : patched_) {
    Tensor dst = params_.at(name);
    backend_.copy(base_.at(name), dst);
  }
  patched_.clear();
}

void WeightPatcher::clear() {
  restore();
  base_.clear();
}

namespace {

void check_update(const LoraUpdate& u, const Tensor& w) {
  const std::string what = "LoRA update of \"" + u.target + "\"";
  if (u.up.defined() != u.down.defined()) fail("E_INVALID_ARGUMENT", what + ": up and down come together");
  if (u.up.defined()) {
    if (u.up.rank() != 2 || u.down.rank() != 2 || u.up.dim(1) != u.down.dim(0))
      fail("E_INVALID_ARGUMENT", what + ": up " + shape_str(u.up.shape()) + " and down " + shape_str(u.down.shape()) +
                                     " are not [out, r] and [r, in]");
    if (w.rank() < 1 || u.up.dim(0) != w.dim(0) || u.up.dim(0) * u.down.dim(1) != w.numel())
      fail("E_INVALID_ARGUMENT", what + ": up @ down is [" + std::to_string(u.up.dim(0)) + ", " +
                                     std::to_string(u.down.dim(1)) + "] but the weight is " + shape_str(w.shape()));
  } else if (!u.diff.defined()) {
    fail("E_INVALID_ARGUMENT", what + ": needs up/down or diff");
  } else if (u.diff.numel() != w.numel()) {
    fail("E_INVALID_ARGUMENT", what + ": diff " + shape_str(u.diff.shape()) + " does not match the weight " +
                                   shape_str(w.shape()));
  }
}

}  // namespace

MergeStats WeightPatcher::apply(const std::vector<LoraUpdate>& updates) {
  const auto t0 = std::chrono::steady_clock::now();
  // Validate everything first: a bad update must not leave the model half-merged.
  std::map<std::string, std::vector<const LoraUpdate*>> by_target;
  int64_t delta_max = 0;
  for (const LoraUpdate& u : updates) {
    auto it = params_.find(u.target);
    if (it == params_.end()) fail("E_INVALID_ARGUMENT", "LoRA target \"" + u.target + "\" is not a weight of this model");
    check_update(u, it->second);
    if (u.up.defined()) delta_max = std::max(delta_max, it->second.numel());
    by_target[u.target].push_back(&u);
  }

  restore();
  // Copies of weights the new set does not touch are not needed any more.
  for (auto it = base_.begin(); it != base_.end();) it = by_target.count(it->first) ? std::next(it) : base_.erase(it);

  try {
    Tensor delta_buf, down_t_buf;
    int64_t down_t_max = 0;
    for (const LoraUpdate& u : updates)
      if (u.up.defined()) down_t_max = std::max(down_t_max, u.down.numel());
    if (delta_max > 0) {
      delta_buf = backend_.empty({delta_max});
      down_t_buf = backend_.empty({down_t_max});
    }
    for (const auto& [name, list] : by_target) {
      Tensor w = params_.at(name);
      if (!base_.count(name)) {
        Tensor copy = backend_.empty(w.shape(), w.dtype());
        backend_.copy(w, copy);
        base_.emplace(name, copy);
      }
      patched_.push_back(name);
      for (const LoraUpdate* u : list) {
        if (u->up.defined()) {
          const int64_t out = u->up.dim(0), r = u->up.dim(1), in = u->down.dim(1);
          // linear() computes x @ w^T, so up @ down = linear(up, down^T).
          Tensor down_t = down_t_buf.narrow_flat(0, r * in).view({in, r});
          PermuteParams p;
          p.rank = 2;
          p.perm[0] = 1;
          p.perm[1] = 0;
          backend_.permute(u->down, p, down_t);
          Tensor delta = delta_buf.narrow_flat(0, out * in).view({out, in});
          backend_.linear(u->up, down_t, nullptr, Activation::None, delta);
          backend_.add_to_weight(w, delta, u->scale);
        } else {
          backend_.add_to_weight(w, u->diff, u->scale);
        }
      }
    }
  } catch (...) {
    restore();
    throw;
  }
  MergeStats s;
  s.targets = static_cast<int>(by_target.size());
  s.base_bytes = base_bytes();
  s.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

}  // namespace wan::pipeline
