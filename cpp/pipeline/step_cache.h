#pragma once
// Step caches: transformer calls whose blocks are skipped when the model's input has barely moved
// since the last call of the same stream, the residual the blocks added last time standing in.
//  - First Block Cache (diffusers' FirstBlockCache hooks): block 0 always runs; the rest is skipped
//    when mean|r - r_prev| / mean|r_prev| <= threshold, r = block 0's residual and r_prev the one of
//    the stream's last full call; the skip adds the tail residual (blocks 1.. of that call).
//  - TeaCache (ali-vilab/TeaCache, TeaCache4Wan2.1 teacache_forward): the indicator is the time
//    embedding e (or its projection e0); acc += poly(mean|m - m_prev| / mean|m_prev|) with m_prev the
//    stream's previous indicator, and the blocks are skipped while acc < threshold.
// A stream is one guidance branch (0 cond, 1 uncond) of one expert; the caller resets the state at
// the Wan2.2 expert switch, so the two experts never share residuals.
#include <vector>

#include "models/dit/wan_dit.h"

namespace wan::pipeline {

enum class StepCacheKind { None, FirstBlock, TeaCache };
enum class TeaCacheIndicator { TimeEmbedding /* e */, TimeProjection /* e0 */ };

struct StepCacheConfig {
  StepCacheKind kind = StepCacheKind::None;
  double threshold = 0;
  // Steps outside [start_step, end_step) always run every block (end_step < 0: no end).
  int start_step = 0;
  int end_step = -1;
  // The same in transformer calls counted from the start of the loop (TeaCache's ret_steps and
  // cutoff_steps count calls, two per guided step); end_call < 0: no end.
  int start_call = 0;
  int end_call = -1;
  int max_consecutive = 0;  // skipped calls in a row per stream before one is forced; 0: no limit
  std::vector<double> coefficients;  // TeaCache rescaling polynomial, highest power first
  TeaCacheIndicator indicator = TeaCacheIndicator::TimeEmbedding;
};

void validate_step_cache_config(const StepCacheConfig& config);

// One transformer call as the cache saw it.
struct CacheCall {
  bool computed = true;     // every block ran
  double accumulated = 0;   // TeaCache's accumulated distance after the call (0 otherwise)
};

class StepCache {
 public:
  StepCache(Backend& backend, StepCacheConfig config);
  // The transformer's output for `in` on `stream` at loop step `step`, with the blocks skipped
  // when the cache decides so; the decision is appended to calls().
  Tensor forward(dit::WanDit& model, const dit::DitInputs& in, int stream, int step);
  // Forgets every stream (expert switch, new generation).
  void reset();
  const std::vector<CacheCall>& calls() const { return calls_; }

 private:
  struct Stream {
    Tensor residual;        // TeaCache: blocks(x) - x; FBCache: the tail residual
    Tensor head_residual;   // FBCache: block 0's residual of the last full call
    std::vector<float> indicator;  // TeaCache: the previous call's e or e0
    double accumulated = 0;
    int skipped_in_a_row = 0;
  };
  Stream& stream(int index);
  bool in_window(int step, int call) const;
  Tensor forward_teacache(dit::WanDit& model, const dit::DitInputs& in, Stream& s, bool may_skip, CacheCall& call);
  Tensor forward_first_block(dit::WanDit& model, const dit::DitInputs& in, Stream& s, bool may_skip, CacheCall& call);

  Backend& backend_;
  StepCacheConfig config_;
  std::vector<Stream> streams_;
  std::vector<CacheCall> calls_;
};

}  // namespace wan::pipeline
