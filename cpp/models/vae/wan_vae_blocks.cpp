#include "models/vae/wan_vae_blocks.h"

#include <cmath>

#include "core/error.h"

namespace wan::vae {

Tensor frame_range(const Tensor& x, int64_t t0, int64_t t1) {
  const int64_t T = x.dim(0), per_frame = x.numel() / T;
  Shape s = x.shape();
  s[0] = t1 - t0;
  return x.view({T, per_frame}).slice0(t0, t1).view(s);
}

Tensor causal_conv(ChunkContext& c, const ConvW& w, const Tensor& x, Tensor* into) {
  const int64_t T = x.dim(0), H = x.dim(1), W = x.dim(2);
  CachedFrames& past = c.cache.next({w.kt - 1, H, W, w.cin});
  Conv3dParams p;
  p.kt = w.kt;
  p.kh = w.kh;
  p.kw = w.kw;
  p.pad_top = p.pad_bottom = w.kh / 2;
  p.pad_left = p.pad_right = w.kw / 2;
  p.pad_front = past.zeros();
  p.accumulate = into != nullptr;
  Tensor y = into ? *into : c.be.empty({T, H, W, w.cout});
  const Tensor frames = past.data();
  c.be.conv3d(x, frames.defined() ? &frames : nullptr, w.weight, &w.bias, p, y);
  c.cache.push(past, x);
  return y;
}

Tensor pointwise_conv(Backend& be, const ConvW& w, const Tensor& x) {
  Tensor y = be.empty({x.dim(0), x.dim(1), x.dim(2), w.cout});
  be.conv3d(x, nullptr, w.weight, &w.bias, Conv3dParams{}, y);
  return y;
}

Tensor residual_block(ChunkContext& c, const ResBlockW& w, const Tensor& x) {
  Tensor out;
  if (w.shortcut.defined()) {
    out = pointwise_conv(c.be, w.shortcut, x);
  } else {
    out = c.be.empty(x.shape());
    c.be.copy(x, out);
  }
  Tensor h = c.be.empty(x.shape());
  c.be.channel_rms_norm(x, w.norm1, Activation::Silu, h);
  h = causal_conv(c, w.conv1, h);
  c.be.channel_rms_norm(h, w.norm2, Activation::Silu, h);
  causal_conv(c, w.conv2, h, &out);
  return out;
}

Tensor attention_block(ChunkContext& c, const AttentionW& w, const Tensor& x) {
  const int64_t T = x.dim(0), S = x.dim(1) * x.dim(2), C = x.dim(3);
  Tensor n = c.be.empty({T * S, C});
  c.be.channel_rms_norm(x, w.norm, Activation::None, n);
  Tensor q = c.be.empty({T, S, C}), k = c.be.empty({T, S, C}), v = c.be.empty({T, S, C});
  c.be.linear(n, w.to_q, &w.q_bias, Activation::None, q);
  c.be.linear(n, w.to_k, &w.k_bias, Activation::None, k);
  c.be.linear(n, w.to_v, &w.v_bias, Activation::None, v);
  AttentionParams ap;
  ap.heads = 1;
  ap.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(C)));
  Tensor a = n.view({T, S, C});  // the normed input is no longer needed
  c.be.attention(q, k, v, ap, a);
  Tensor out = c.be.empty(x.shape());
  c.be.linear(a, w.proj, &w.proj_bias, Activation::None, out);
  c.be.add_gated(out, x, nullptr, 0);
  return out;
}

Tensor mid_block(ChunkContext& c, const MidBlockW& w, const Tensor& x) {
  Tensor h = residual_block(c, w.res0, x);
  h = attention_block(c, w.attn, h);
  return residual_block(c, w.res1, h);
}

namespace {
// The per-frame 3x3 conv after nearest 2x upsampling, one frame at a time so that the upsampled
// copy never exists for more than a frame.
Tensor upsample_frames(ChunkContext& c, const ConvW& w, const Tensor& x) {
  const int64_t T = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
  Tensor y = c.be.empty({T, 2 * H, 2 * W, w.cout});
  Tensor up = c.be.empty({1, 2 * H, 2 * W, C});
  Conv3dParams p;
  p.kh = p.kw = 3;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
  for (int64_t t = 0; t < T; ++t) {
    c.be.upsample_nearest_2x(frame_range(x, t, t + 1), up);
    Tensor yt = frame_range(y, t, t + 1);
    c.be.conv3d(up, nullptr, w.weight, &w.bias, p, yt);
  }
  return y;
}
}  // namespace

Tensor upsample(ChunkContext& c, const ResampleW& w, const Tensor& x) {
  if (w.mode != ResampleMode::Up3d) return upsample_frames(c, w.conv, x);
  const int64_t T = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
  CachedFrames& past = c.cache.next({2, H, W, C});
  // The first chunk's frame is not doubled: it is the video's first frame, and not part of the
  // time conv's past either (the reference marks the slot "Rep").
  if (c.first_chunk) return upsample_frames(c, w.conv, x);
  Tensor pairs = c.be.empty({T, H, W, 2 * C});
  Conv3dParams p;
  p.kt = 3;
  p.pad_front = past.zeros();
  const Tensor frames = past.data();
  c.be.conv3d(x, frames.defined() ? &frames : nullptr, w.time_conv.weight, &w.time_conv.bias, p, pairs);
  c.cache.push(past, x);
  // Channels [0, C) become frame 2t and [C, 2C) frame 2t+1.
  Tensor doubled = c.be.empty({2 * T, H, W, C});
  PermuteParams interleave;
  interleave.rank = 5;
  const int order[5] = {0, 3, 1, 2, 4};
  for (int i = 0; i < 5; ++i) interleave.perm[i] = order[i];
  c.be.permute(pairs.view({T, H, W, 2, C}), interleave, doubled);
  return upsample_frames(c, w.conv, doubled);
}

Tensor downsample(ChunkContext& c, const ResampleW& w, const Tensor& x) {
  const int64_t T = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
  // ZeroPad2d((0, 1, 0, 1)) then a 3x3 stride-2 conv.
  Conv3dParams p;
  p.kh = p.kw = 3;
  p.stride_h = p.stride_w = 2;
  p.pad_bottom = p.pad_right = 1;
  const int64_t Ho = (H + 1 - 3) / 2 + 1, Wo = (W + 1 - 3) / 2 + 1;
  Tensor y = c.be.empty({T, Ho, Wo, w.conv.cout});
  c.be.conv3d(x, nullptr, w.conv.weight, &w.conv.bias, p, y);
  if (w.mode != ResampleMode::Down3d) return y;
  CachedFrames& past = c.cache.next({1, Ho, Wo, C});
  if (c.first_chunk) {
    // The first frame passes through; it becomes the past of the next chunk's first pair.
    c.cache.push(past, y);
    return y;
  }
  Conv3dParams tp;
  tp.kt = 3;
  tp.stride_t = 2;
  tp.pad_front = past.zeros();
  Tensor out = c.be.empty({(tp.pad_front + 1 + T - 3) / 2 + 1, Ho, Wo, C});
  const Tensor frames = past.data();
  c.be.conv3d(y, frames.defined() ? &frames : nullptr, w.time_conv.weight, &w.time_conv.bias, tp, out);
  c.cache.push(past, y);
  return out;
}

Tensor up_level(ChunkContext& c, const UpLevelW& w, const Tensor& x) {
  Tensor h = x;
  for (const ResBlockW& r : w.resnets) h = residual_block(c, r, h);
  if (w.up.mode != ResampleMode::None) h = upsample(c, w.up, h);
  if (w.dup_shortcut) {
    SpaceTimeParams p = w.shortcut;
    p.drop_frames = c.first_chunk ? p.factor_t - 1 : 0;
    p.accumulate = true;
    c.be.dup_up_3d(x, p, h);
  }
  return h;
}

Tensor down_level(ChunkContext& c, const DownLevelW& w, const Tensor& x) {
  Tensor h = x;
  for (const ResBlockW& r : w.resnets) h = residual_block(c, r, h);
  if (w.down.mode != ResampleMode::None) h = downsample(c, w.down, h);
  if (w.avg_shortcut) {
    SpaceTimeParams p = w.shortcut;
    p.accumulate = true;
    c.be.avg_down_3d(x, p, h);
  }
  return h;
}

Tensor head(ChunkContext& c, const Tensor& norm, const ConvW& conv, const Tensor& x) {
  Tensor h = c.be.empty(x.shape());
  c.be.channel_rms_norm(x, norm, Activation::Silu, h);
  return causal_conv(c, conv, h);
}

}  // namespace wan::vae
