#include "models/vae/wan_vae.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "models/vae/wan_vae_blocks.h"

namespace wan::vae {

WanVae::WanVae(Backend& backend, const WanVaeConfig& config, WeightSource& weights)
    : backend_(backend), config_(config) {
  weight_bytes_ = bind_vae_weights(backend, config_, weights, w_);
}

Tensor WanVae::decode_chunk(const Tensor& z, bool first, CausalCache& cache) {
  const DecoderW& d = w_.decoder;
  ChunkContext c{backend_, cache, first};
  Tensor x = causal_conv(c, d.conv_in, z);
  x = mid_block(c, d.mid, x);
  for (const UpLevelW& level : d.levels) x = up_level(c, level, x);
  return head(c, d.norm_out, d.conv_out, x);
}

Tensor WanVae::encode_chunk(const Tensor& x_in, bool first, CausalCache& cache) {
  const EncoderW& e = w_.encoder;
  ChunkContext c{backend_, cache, first};
  Tensor x = causal_conv(c, e.conv_in, x_in);
  for (const DownLevelW& level : e.levels) x = down_level(c, level, x);
  x = mid_block(c, e.mid, x);
  return head(c, e.norm_out, e.conv_out, x);
}

namespace {

PermuteParams perm_of(std::initializer_list<int> order) {
  PermuteParams p;
  p.rank = static_cast<int>(order.size());
  int i = 0;
  for (int o : order) p.perm[i++] = o;
  return p;
}

}  // namespace

WanVae::DecodeStream::DecodeStream(WanVae& vae, const float* latents, const Shape& shape, bool normalized)
    : vae_(vae), latents_(latents), shape_(shape), normalized_(normalized) {
  const WanVaeConfig& cfg = vae.config_;
  if (!cfg.with_decoder) fail("E_INVALID_ARGUMENT", "this VAE was loaded without its decoder");
  if (shape.size() != 5 || shape[1] != cfg.z_dim || shape[0] < 1 || shape[2] < 1 || shape[3] < 1 || shape[4] < 1)
    fail("E_INVALID_ARGUMENT", "latents " + shape_str(shape) + " must be [batch, " + std::to_string(cfg.z_dim) +
                                   ", frames, height, width]");
  const int64_t Z = shape[1];
  mean_.assign(Z, 0.0f);
  inv_std_.assign(Z, 1.0f);
  if (normalized) {
    if (static_cast<int64_t>(cfg.latents_mean.size()) != Z || static_cast<int64_t>(cfg.latents_std.size()) != Z)
      fail("E_INVALID_ARGUMENT", "this VAE has no latents_mean/latents_std: decode raw latents instead");
    for (int64_t c = 0; c < Z; ++c) {
      mean_[c] = cfg.latents_mean[c];
      inv_std_[c] = 1.0f / cfg.latents_std[c];  // the pipelines hold 1/std as a float32 tensor and divide by it
    }
  }
}

WanVae::DecodeStream::~DecodeStream() = default;

bool WanVae::DecodeStream::done() const { return sample_ >= shape_[0]; }

DecodedFrames WanVae::DecodeStream::next() {
  WAN_CHECK(!done(), "DecodeStream::next past the last chunk");
  Backend& be = vae_.backend_;
  be.check_cancel("between VAE chunks");
  const WanVaeConfig& cfg = vae_.config_;
  const int64_t Z = shape_[1], T = shape_[2], h = shape_[3], w = shape_[4], hw = h * w, b = sample_, t = frame_;
  if (t == 0) {
    cache_ = std::make_unique<CausalCache>(be);
    first_frame_ = 0;
  }
  // One latent frame, channels-last.
  std::vector<float> chunk(static_cast<size_t>(hw * Z));
  for (int64_t c = 0; c < Z; ++c) {
    const float* src = latents_ + ((b * Z + c) * T + t) * hw;
    for (int64_t i = 0; i < hw; ++i) chunk[i * Z + c] = normalized_ ? src[i] / inv_std_[c] + mean_[c] : src[i];
  }
  Tensor z = pointwise_conv(be, vae_.w_.post_quant_conv, be.upload(chunk.data(), {1, h, w, Z}));
  cache_->rewind();
  Tensor out = vae_.decode_chunk(z, t == 0, *cache_);
  z = Tensor();
  const int p = cfg.patch_size, rgb = cfg.pixel_channels();
  const int64_t F = out.dim(0), H = out.dim(1) * p, W = out.dim(2) * p;
  if (p > 1) {
    // Channels (c, kw, kh) of each patch back to pixels: [F, h, kh, w, kw, c].
    Tensor pixels = be.empty({F, H, W, rgb});
    be.permute(out.view({F, out.dim(1), out.dim(2), rgb, p, p}), perm_of({0, 1, 5, 2, 4, 3}), pixels);
    out = pixels;
  }
  DecodedFrames f;
  f.sample = b;
  f.first_frame = first_frame_;
  f.frames = F;
  f.height = H;
  f.width = W;
  f.pixels.resize(static_cast<size_t>(out.numel()));
  be.download(out, f.pixels.data());
  out = Tensor();
  for (float& v : f.pixels) v = std::min(1.0f, std::max(-1.0f, v));
  first_frame_ += F;
  if (++frame_ == T) {
    frame_ = 0;
    ++sample_;
    cache_.reset();  // the sample's feature cache is freed as soon as it is no longer needed
  }
  return f;
}

void WanVae::decode(const float* latents, const Shape& shape, bool normalized, const FrameSink& sink) {
  DecodeStream stream(*this, latents, shape, normalized);
  while (!stream.done()) sink(stream.next());
}

Posterior WanVae::encode(const float* video, const Shape& shape) {
  const WanVaeConfig& cfg = config_;
  if (!cfg.with_encoder) fail("E_INVALID_ARGUMENT", "this VAE was loaded without its encoder");
  const int p = cfg.patch_size, rgb = cfg.in_channels / (p * p);
  if (shape.size() != 5 || shape[1] != rgb || shape[0] < 1 || shape[2] < 1)
    fail("E_INVALID_ARGUMENT", "video " + shape_str(shape) + " must be [batch, " + std::to_string(rgb) +
                                   ", frames, height, width]");
  const int64_t B = shape[0], C = shape[1], T = shape[2], H = shape[3], W = shape[4], Z = cfg.z_dim;
  // Wan2.1 pads odd sizes as it halves them; Wan2.2's patches and averaged shortcuts need whole blocks.
  const int64_t factor = cfg.is_residual ? cfg.spatial_factor() : p;
  if (H % factor || W % factor)
    fail("E_INVALID_ARGUMENT", "video height and width (" + std::to_string(H) + "x" + std::to_string(W) +
                                   ") must be multiples of " + std::to_string(factor));
  const int64_t chunks = 1 + (T - 1) / 4;
  Posterior post;
  for (int64_t b = 0; b < B; ++b) {
    CausalCache cache(backend_);
    std::vector<std::vector<float>> outs;  // per chunk, channels-last [Tc, h, w, 2z]
    int64_t frames_out = 0, h = 0, w = 0;
    for (int64_t i = 0; i < chunks; ++i) {
      backend_.check_cancel("between VAE chunks");
      const int64_t t0 = i == 0 ? 0 : 1 + 4 * (i - 1), t1 = i == 0 ? 1 : 1 + 4 * i, Tc = t1 - t0;
      std::vector<float> host(static_cast<size_t>(C * Tc * H * W));
      for (int64_t c = 0; c < C; ++c)
        std::copy_n(video + ((b * C + c) * T + t0) * H * W, Tc * H * W, host.data() + c * Tc * H * W);
      Tensor in = backend_.upload(host.data(), {C, Tc, H, W});
      Tensor x = backend_.empty({Tc, H / p, W / p, C * p * p});
      // Channels-last, each p x p patch folded into channels as (c, kw, kh).
      backend_.permute(in.view({C, Tc, H / p, p, W / p, p}), perm_of({1, 2, 4, 0, 5, 3}), x);
      in = Tensor();
      cache.rewind();
      Tensor y = pointwise_conv(backend_, w_.quant_conv, encode_chunk(x, i == 0, cache));
      frames_out += y.dim(0);
      h = y.dim(1);
      w = y.dim(2);
      outs.emplace_back(static_cast<size_t>(y.numel()));
      backend_.download(y, outs.back().data());
    }
    if (b == 0) {
      post.shape = {B, Z, frames_out, h, w};
      post.mean.resize(static_cast<size_t>(shape_numel(post.shape)));
      post.logvar.resize(post.mean.size());
    }
    const int64_t hw = h * w;
    int64_t t = 0;
    for (const auto& o : outs) {
      const int64_t Tc = static_cast<int64_t>(o.size()) / (hw * 2 * Z);
      for (int64_t f = 0; f < Tc; ++f, ++t)
        for (int64_t i = 0; i < hw; ++i)
          for (int64_t c = 0; c < Z; ++c) {
            const float* px = o.data() + (f * hw + i) * 2 * Z;
            const size_t at = static_cast<size_t>(((b * Z + c) * frames_out + t) * hw + i);
            post.mean[at] = px[c];
            post.logvar[at] = std::min(20.0f, std::max(-30.0f, px[Z + c]));
          }
    }
  }
  return post;
}

}  // namespace wan::vae
