#pragma once
// Step caches: transformer calls whose blocks are skipped when the model's input has barely moved
// since the last call of the same stream, the residual the blocks added last time standing in.
//  - First Block Cache (diffusers' FirstBlockCache hooks): block 0 always runs; the rest is skipped
//    when mean|r - r_prev| / mean|r_prev| <= threshold, r = block 0's residual and r_prev the one of
//    the stream's last full call; the skip adds the tail residual (blocks 1.. of that call).
//  - TeaCache (ali-vilab/TeaCache, TeaCache4Wan2.1 teacache_forward): the indicator is the time
//    embedding e (or its projection e0); acc += poly(mean|m - m_prev| / mean|m_prev|) with m_prev the
//    stream's previous indicator, and the blocks are skipped while acc < threshold.
//  - DBCache (vipshop/cache-dit's Dual Block Cache, CachedBlocks_Pattern_Base + CachedContextManager
//    .can_cache): the first Fn blocks always run; the middle blocks are replaced by their residual of
//    the stream's last computing call when mean|r_prev - r| / mean|r_prev| < threshold, r being the Fn
//    blocks' residual; the last Bn blocks always run. Warmup steps, a bound on cached steps and
//    cache-dit's own count of continuous cached steps force computing calls (see dual_block_may_cache).
// A stream is one guidance branch (0 cond, 1 uncond) of one expert; the caller resets the state at
// the Wan2.2 expert switch, so the two experts never share residuals (cache-dit gives each expert's
// blocks their own context, its steps counted from that expert's first call, as here).
#include <vector>

#include "models/dit/wan_dit.h"

namespace wan::pipeline {

enum class StepCacheKind { None, FirstBlock, TeaCache, DualBlock };
enum class TeaCacheIndicator { TimeEmbedding /* e */, TimeProjection /* e0 */ };

// DBCache's own settings (cache-dit's DBCacheConfig; its defaults).
struct DualBlockConfig {
  int fn_blocks = 8;          // Fn_compute_blocks: always run first, their residual decides
  int bn_blocks = 0;          // Bn_compute_blocks: always run last
  int warmup_steps = 8;       // max_warmup_steps: steps [0, this) of the expert ...
  int warmup_interval = 1;    // ... whose index is a multiple of this always compute
  int max_cached_steps = -1;  // cached steps per stream before every later call computes; < 0: none
};

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
  // Skipped calls in a row per stream before one is forced; 0: no limit. DBCache counts them as
  // cache-dit does (max_continuous_cached_steps).
  int max_consecutive = 0;
  std::vector<double> coefficients;  // TeaCache rescaling polynomial, highest power first
  TeaCacheIndicator indicator = TeaCacheIndicator::TimeEmbedding;
  DualBlockConfig dual_block;
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
  // Forgets every stream and restarts the step count (expert switch, new generation).
  void reset();
  const std::vector<CacheCall>& calls() const { return calls_; }

 private:
  struct Stream {
    Tensor residual;        // TeaCache: blocks(x) - x; FBCache: the tail residual; DBCache: the middle blocks'
    Tensor head_residual;   // FBCache: block 0's residual of the last full call; DBCache: the Fn blocks'
    std::vector<float> indicator;  // TeaCache: the previous call's e or e0
    double accumulated = 0;
    int skipped_in_a_row = 0;
    // DBCache: cached steps so far, the last one, and cache-dit's continuous-cached counter.
    int cached_steps = 0;
    int last_cached_step = -1;
    int continuous_cached = 0;
  };
  Stream& stream(int index);
  bool in_window(int step, int call) const;
  Tensor forward_teacache(dit::WanDit& model, const dit::DitInputs& in, Stream& s, bool may_skip, CacheCall& call);
  Tensor forward_first_block(dit::WanDit& model, const dit::DitInputs& in, Stream& s, bool may_skip, CacheCall& call);
  Tensor forward_dual_block(dit::WanDit& model, const dit::DitInputs& in, Stream& s, bool may_skip, int step,
                            CacheCall& call);
  bool dual_block_may_cache(Stream& s, int step, const Tensor& fn_residual);

  Backend& backend_;
  StepCacheConfig config_;
  std::vector<Stream> streams_;
  std::vector<CacheCall> calls_;
  int first_step_ = -1;  // the loop step of the first call since the last reset
};

}  // namespace wan::pipeline
