#pragma once
// The layers of the Wan VAE on one chunk of channels-last frames [T, H, W, C], each reading like its
// module in the reference (WanResidualBlock, WanAttentionBlock, WanResample, the residual levels).
// Temporal convs take their past frames from the chunk's CausalCache in forward order.
#include "models/vae/causal_cache.h"
#include "models/vae/wan_vae_weights.h"

namespace wan::vae {

struct ChunkContext {
  Backend& be;
  CausalCache& cache;
  bool first_chunk;  // the reference's first_chunk: some layers start differently
};

// Frames [t0, t1) of x, a view.
Tensor frame_range(const Tensor& x, int64_t t0, int64_t t1);

// kt x kh x kw conv, zero-padded around each frame, with the cached frames before the chunk.
// With `into`, adds to it (a residual sum) and returns it.
Tensor causal_conv(ChunkContext& c, const ConvW& w, const Tensor& x, Tensor* into = nullptr);
// 1x1x1 conv: no padding, no past.
Tensor pointwise_conv(Backend& be, const ConvW& w, const Tensor& x);

Tensor residual_block(ChunkContext& c, const ResBlockW& w, const Tensor& x);
Tensor attention_block(ChunkContext& c, const AttentionW& w, const Tensor& x);
Tensor mid_block(ChunkContext& c, const MidBlockW& w, const Tensor& x);
Tensor upsample(ChunkContext& c, const ResampleW& w, const Tensor& x);
Tensor downsample(ChunkContext& c, const ResampleW& w, const Tensor& x);
Tensor up_level(ChunkContext& c, const UpLevelW& w, const Tensor& x);
Tensor down_level(ChunkContext& c, const DownLevelW& w, const Tensor& x);
// norm_out, SiLU, conv_out.
Tensor head(ChunkContext& c, const Tensor& norm, const ConvW& conv, const Tensor& x);

}  // namespace wan::vae
