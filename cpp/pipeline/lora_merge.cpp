#include "pipeline/lora_merge.h"

#include <chrono>
#include <set>

#include "core/error.h"

namespace wan::pipeline {

WeightPatcher::WeightPatcher(Backend& backend, std::map<std::string, Tensor*> slots)
    : backend_(backend), slots_(std::move(slots)) {}

size_t WeightPatcher::base_bytes() const {
  size_t n = 0;
  for (const auto& [name, base] : base_) n += slots_.at(name)->bytes();
  return n;
}

void WeightPatcher::restore() {
  for (const auto& [name, base] : base_) *slots_.at(name) = base;  // frees the merged copy
  base_.clear();
}

void WeightPatcher::clear() { restore(); }

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
    auto it = slots_.find(u.target);
    if (it == slots_.end()) fail("E_INVALID_ARGUMENT", "LoRA target \"" + u.target + "\" is not a weight of this model");
    check_update(u, *it->second);
    if (u.up.defined()) delta_max = std::max(delta_max, it->second->numel());
    by_target[u.target].push_back(&u);
  }

  restore();
  std::map<std::string, int> widened;
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
      Tensor* slot = slots_.at(name);
      const Tensor base = *slot;
      Tensor w = backend_.mergeable_copy(base);
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
      if (w.dtype() != base.dtype() || base.scale() != 1.0f) ++widened[dtype_name(base.dtype())];
      base_.emplace(name, base);
      *slot = w.view(base.shape());
    }
  } catch (...) {
    restore();
    throw;
  }
  MergeStats s;
  s.targets = static_cast<int>(by_target.size());
  s.base_bytes = base_bytes();
  s.widened = std::move(widened);
  s.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

}  // namespace wan::pipeline
