#pragma once
// AutoencoderKLWan's configuration and weights (diffusers names), for both Wan VAEs: Wan2.1 (flat
// encoder list, plain up blocks) and Wan2.2 (residual down/up levels with parameter-free shortcuts,
// 2x2 patchified pixels, a decoder of its own width).
#include <cstdint>
#include <string>
#include <vector>

#include "io/weight_source.h"
#include "ops/backend.h"

namespace wan::vae {

struct WanVaeConfig {
  int base_dim = 96;
  int decoder_base_dim = 96;
  int z_dim = 16;
  std::vector<int> dim_mult{1, 2, 4, 4};
  int num_res_blocks = 2;
  std::vector<bool> temperal_downsample{false, true, true};  // per level but the last (the reference's spelling)
  bool is_residual = false;  // Wan2.2
  int in_channels = 3;       // of the encoder's first conv: 12 for Wan2.2 (RGB in 2x2 patches)
  int out_channels = 3;      // of the decoder's last conv
  int patch_size = 1;
  // Empty when the checkpoint does not say (then only raw latents can be decoded).
  std::vector<float> latents_mean, latents_std;
  bool with_encoder = true, with_decoder = true;

  int levels() const { return static_cast<int>(dim_mult.size()); }
  int pixel_channels() const { return out_channels / (patch_size * patch_size); }
  // How many times the levels halve the resolution, and the frame count: 2^downs * patch, 2^temporal.
  int spatial_factor() const;
  int temporal_factor() const;
};

// A conv weight packed for Backend::conv3d: [Cout, kt*kh*kw*Cin], taps major.
struct ConvW {
  Tensor weight, bias;
  int kt = 1, kh = 1, kw = 1;
  int64_t cin = 0, cout = 0;
  bool defined() const { return weight.defined(); }
};

struct ResBlockW {
  Tensor norm1, norm2;  // gains [C]
  ConvW conv1, conv2;
  ConvW shortcut;       // 1x1x1, only when the width changes
};

// Single-head attention over the pixels of each frame; to_qkv split into its three [C, C] thirds.
struct AttentionW {
  Tensor norm;
  Tensor to_q, to_k, to_v, q_bias, k_bias, v_bias;
  Tensor proj, proj_bias;
};

struct MidBlockW {
  ResBlockW res0;
  AttentionW attn;
  ResBlockW res1;
};

enum class ResampleMode : uint8_t { None, Up2d, Up3d, Down2d, Down3d };

struct ResampleW {
  ResampleMode mode = ResampleMode::None;
  ConvW conv;       // the per-frame 3x3 conv (resample.1)
  ConvW time_conv;  // Up3d: 3x1x1 causal conv to 2C (two frames); Down3d: 3x1x1 stride-2 conv
};

struct DownLevelW {
  std::vector<ResBlockW> resnets;
  ResampleW down;
  bool avg_shortcut = false;  // Wan2.2: x + avg_down_3d(level input)
  SpaceTimeParams shortcut;
};

struct UpLevelW {
  std::vector<ResBlockW> resnets;
  ResampleW up;
  bool dup_shortcut = false;  // Wan2.2: x + dup_up_3d(level input)
  SpaceTimeParams shortcut;
};

struct EncoderW {
  ConvW conv_in;
  std::vector<DownLevelW> levels;
  MidBlockW mid;
  Tensor norm_out;
  ConvW conv_out;
};

struct DecoderW {
  ConvW conv_in;
  MidBlockW mid;
  std::vector<UpLevelW> levels;
  Tensor norm_out;
  ConvW conv_out;
};

struct WanVaeWeights {
  EncoderW encoder;
  ConvW quant_conv;
  ConvW post_quant_conv;
  DecoderW decoder;
};

// Binds every tensor the config implies by its diffusers name; returns the bytes bound.
size_t bind_vae_weights(Backend& backend, const WanVaeConfig& config, WeightSource& src, WanVaeWeights& w);

}  // namespace wan::vae
