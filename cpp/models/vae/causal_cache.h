#pragma once
// The feature cache that makes the Wan VAE causal in time when it runs chunk by chunk: every
// temporal conv keeps the last frames of its input, which the next chunk sees before its own.
// Slots are handed out in forward order, as the reference's feat_cache list is indexed. Before a
// layer has seen enough frames, the missing ones are the reference's causal zero padding: they are
// counted, not stored, so the conv can skip their taps.
#include <cstddef>
#include <vector>

#include "ops/backend.h"

namespace wan::vae {

struct CachedFrames {
  Tensor frames;      // [F, H, W, C]; only the last `valid` hold data
  int64_t valid = 0;

  // The frames that hold data (a view), undefined when there are none yet.
  Tensor data() const;
  // How many zero frames come before them.
  int zeros() const { return static_cast<int>(frames.dim(0) - valid); }
};

class CausalCache {
 public:
  explicit CausalCache(Backend& backend) : backend_(backend) {}

  // Call before each chunk: the layers ask for their slots again in the same order.
  void rewind() { next_ = 0; }
  // The next layer's cached frames, [F, H, W, C].
  CachedFrames& next(const Shape& shape);
  // cached <- the last F frames of (cached ++ x).
  void push(CachedFrames& cached, const Tensor& x);
  size_t bytes() const;

 private:
  Backend& backend_;
  std::vector<CachedFrames> slots_;
  size_t next_ = 0;
};

}  // namespace wan::vae
