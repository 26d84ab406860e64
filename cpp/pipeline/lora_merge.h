#pragma once
// LoRA merged into a model's weights, with the base weights restorable without a reload.
// For every weight a LoRA set touches, the first modification keeps a copy of the base tensor;
// applying a set restores every patched weight first, then writes
//   W = base + sum_i scale_i * (up_i @ down_i)   (low-rank pairs)
//   W = base + sum_i scale_i * diff_i            (full-weight deltas: `.diff`, `.diff_b`)
// through the Backend op interface only (permute, linear, linear_combination, copy), so the same
// code merges on every backend. Not thread-safe against a forward of the same model: callers
// serialise (the pipeline runs one job at a time).
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ops/backend.h"

namespace wan::pipeline {

struct LoraUpdate {
  std::string target;  // canonical parameter name, e.g. "blocks.0.attn1.to_q.weight"
  float scale = 1.0f;  // weight x alpha / rank (low-rank) or weight (diff)
  Tensor up;           // [out, r]   \ low-rank pair; W viewed as [out, in]
  Tensor down;         // [r, in]    /
  Tensor diff;         // the target's element count (any shape); used when up is undefined
};

struct MergeStats {
  int targets = 0;          // weights written
  size_t base_bytes = 0;    // base copies held after the merge (the extra memory LoRA costs)
  double ms = 0;            // restore + merge time
};

class WeightPatcher {
 public:
  // `params`: every patchable tensor of the model by canonical name (views share the storage).
  WeightPatcher(Backend& backend, std::map<std::string, Tensor> params);

  // Restores the base, then merges `updates` (an empty list leaves the base). Every update is
  // checked before anything is written; on a failure midway the base is restored and the error
  // rethrown, so the model is never left half-merged.
  MergeStats apply(const std::vector<LoraUpdate>& updates);
  // Restores the base and frees the copies.
  void clear();
  size_t base_bytes() const;
  bool active() const { return !patched_.empty(); }

 private:
  void restore();
  Backend& backend_;
  std::map<std::string, Tensor> params_;
  std::map<std::string, Tensor> base_;  // copies of the base of the weights a set touched
  std::vector<std::string> patched_;    // weights that currently differ from their base
};

}  // namespace wan::pipeline
