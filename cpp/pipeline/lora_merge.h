#pragma once
// LoRA merged into a model's weights, with the base weights restorable without a reload.
// For every weight a LoRA set touches, the model's slot is pointed at a merged copy
//   W = base + sum_i scale_i * (up_i @ down_i)   (low-rank pairs)
//   W = base + sum_i scale_i * diff_i            (full-weight deltas: `.diff`, `.diff_b`)
// made by Backend::mergeable_copy, and the base tensor is kept as loaded: restoring points the slot
// back. A base stored narrow or block-quantized (bf16, fp8, GGUF Q4_K, ...) is never rounded back
// into its format: the merged copy is wider (float32 on the CPU, bf16 on CUDA), so the merge is
// exact up to that precision. Everything goes through the Backend op interface (mergeable_copy,
// permute, linear, add_to_weight), so the same code merges on every backend. Not thread-safe
// against a forward of the same model: callers serialise (the pipeline runs one job at a time).
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
  // Targets whose loaded base is narrow or quantized (by its stored dtype): merged exactly into a
  // wider copy (mergeable_copy), never rounded back into their format.
  std::map<std::string, int> widened;
  size_t base_bytes = 0;    // merged copies held beside the base weights (the extra memory LoRA costs)
  double ms = 0;            // restore + merge time
};

class WeightPatcher {
 public:
  // `slots`: every patchable weight of the model by canonical name: the tensor its forward reads.
  WeightPatcher(Backend& backend, std::map<std::string, Tensor*> slots);

  // Restores the base, then merges `updates` (an empty list leaves the base). Every update is
  // checked before anything is written; on a failure midway the base is restored and the error
  // rethrown, so the model is never left half-merged.
  MergeStats apply(const std::vector<LoraUpdate>& updates);
  // Restores the base and frees the merged copies.
  void clear();
  size_t base_bytes() const;
  bool active() const { return !base_.empty(); }

 private:
  void restore();
  Backend& backend_;
  std::map<std::string, Tensor*> slots_;
  std::map<std::string, Tensor> base_;  // the loaded tensor of every slot that holds a merged copy
};

}  // namespace wan::pipeline
