#pragma once
// AutoencoderKLWan: the causal video VAE of Wan2.1 and Wan2.2. Decoding runs one latent frame at a
// time through the feature cache (the first gives 1 frame, each further one 4) and hands each
// chunk's frames to a sink before the next chunk starts, so memory does not grow with the video.
#include <functional>
#include <memory>
#include <vector>

#include "models/vae/causal_cache.h"
#include "models/vae/wan_vae_weights.h"

namespace wan::vae {

// One chunk of decoded frames: channels-last RGB [frames, height, width, 3], clamped to [-1, 1].
struct DecodedFrames {
  int64_t sample = 0;       // index in the batch
  int64_t first_frame = 0;  // index of its first frame in the sample's video
  int64_t frames = 0, height = 0, width = 0;
  std::vector<float> pixels;
};

using FrameSink = std::function<void(DecodedFrames&&)>;

// The encoder's diagonal Gaussian, channels-first [B, z, T, h, w] as the reference returns it.
struct Posterior {
  Shape shape;
  std::vector<float> mean, logvar;  // logvar clamped to [-30, 20] as DiagonalGaussianDistribution does
};

class WanVae {
 public:
  WanVae(Backend& backend, const WanVaeConfig& config, WeightSource& weights);
  const WanVaeConfig& config() const { return config_; }
  size_t weight_bytes() const { return weight_bytes_; }

  // latents: host floats [B, z_dim, T, h, w]. With `normalized`, they are the diffusion model's
  // latents and are first mapped back as the Wan pipelines do: z / (1 / std) + mean. The job's
  // cancel (Backend::check_cancel) is polled before every chunk and inside the long convolutions.
  void decode(const float* latents, const Shape& shape, bool normalized, const FrameSink& sink);

  // The same decode, one chunk per next(): the caller decides when the next chunk runs (the
  // addon's decode job hands the device to other work while a slow consumer catches up).
  // `latents` must outlive the stream.
  class DecodeStream {
   public:
    DecodeStream(WanVae& vae, const float* latents, const Shape& shape, bool normalized);
    ~DecodeStream();
    bool done() const;
    DecodedFrames next();

   private:
    WanVae& vae_;
    const float* latents_;
    Shape shape_;
    bool normalized_;
    std::vector<float> mean_, inv_std_;
    int64_t sample_ = 0, frame_ = 0, first_frame_ = 0;
    std::unique_ptr<CausalCache> cache_;
  };

  // video: host floats [B, 3, T, H, W] in [-1, 1]; T = 1 + 4k (further frames are ignored, as the
  // reference ignores them).
  Posterior encode(const float* video, const Shape& shape);

 private:
  Tensor decode_chunk(const Tensor& z, bool first, CausalCache& cache);
  Tensor encode_chunk(const Tensor& x, bool first, CausalCache& cache);

  Backend& backend_;
  WanVaeConfig config_;
  WanVaeWeights w_;
  size_t weight_bytes_ = 0;
};

}  // namespace wan::vae
