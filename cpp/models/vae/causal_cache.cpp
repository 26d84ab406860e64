#include "models/vae/causal_cache.h"

#include <algorithm>

#include "core/error.h"

namespace wan::vae {

Tensor CachedFrames::data() const {
  if (valid == 0) return Tensor();
  const int64_t F = frames.dim(0), per_frame = frames.numel() / F;
  Shape s = frames.shape();
  s[0] = valid;
  return frames.view({F, per_frame}).slice0(F - valid, F).view(s);
}

CachedFrames& CausalCache::next(const Shape& shape) {
  if (next_ == slots_.size()) slots_.push_back(CachedFrames{backend_.empty(shape), 0});
  CachedFrames& slot = slots_[next_++];
  WAN_CHECK(slot.frames.shape() == shape,
            "causal cache slot " + shape_str(slot.frames.shape()) + " asked for as " + shape_str(shape));
  return slot;
}

void CausalCache::push(CachedFrames& cached, const Tensor& x) {
  Tensor& f = cached.frames;
  const int64_t F = f.dim(0), T = x.dim(0), frame = f.numel() / F;
  WAN_CHECK(x.numel() == T * frame, "causal cache: chunk " + shape_str(x.shape()) + " for " + shape_str(f.shape()));
  Tensor c = f.view({F, frame});
  Tensor v = x.view({T, frame});
  if (T >= F) {
    backend_.copy(v.slice0(T - F, T), c);
  } else {
    // Ascending frame order keeps the overlapping shift safe; zero frames need not move.
    for (int64_t i = std::max<int64_t>(0, F - cached.valid - T); i + T < F; ++i) {
      Tensor dst = c.slice0(i, i + 1);
      backend_.copy(c.slice0(i + T, i + T + 1), dst);
    }
    Tensor tail = c.slice0(F - T, F);
    backend_.copy(v, tail);
  }
  cached.valid = std::min(F, cached.valid + T);
}

size_t CausalCache::bytes() const {
  size_t n = 0;
  for (const CachedFrames& s : slots_) n += s.frames.bytes();
  return n;
}

}  // namespace wan::vae
