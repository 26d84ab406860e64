#pragma once
// The CLIP vision encoder of Wan2.1 I2V/FLF2V (transformers CLIPVisionModel names, ViT-H/14 in the
// released models): a bias-free patch conv, a class token, learned positions, pre_layrnorm, then
// pre-norm encoder layers (layer_norm1 -> attention -> residual, layer_norm2 -> fc1 -> exact GELU ->
// fc2 -> residual). The pipelines take hidden_states[-2]: the input of the last layer.
#include <cstdint>
#include <vector>

#include "io/weight_source.h"
#include "ops/backend.h"

namespace wan::clip {

struct ClipVisionConfig {
  int hidden_size = 1280;
  int intermediate_size = 5120;
  int num_heads = 16;
  int num_layers = 32;
  int patch_size = 14;
  int image_size = 224;
  int num_channels = 3;
  float eps = 1e-5f;

  int grid() const { return image_size / patch_size; }
  int tokens() const { return grid() * grid() + 1; }
  int head_dim() const { return hidden_size / num_heads; }
};

struct LinearW {
  Tensor weight, bias;  // [out, in], [out]
};

struct LayerNormW {
  Tensor weight, bias;
};

struct EncoderLayerW {
  LayerNormW layer_norm1;
  LinearW q_proj, k_proj, v_proj, out_proj;
  LayerNormW layer_norm2;
  LinearW fc1, fc2;
};

struct ClipVisionWeights {
  Tensor patch_embedding;     // conv [hidden, C, P, P] viewed as [hidden, C * P * P]; no bias
  Tensor class_embedding;     // [hidden]
  Tensor position_embedding;  // [tokens, hidden]
  LayerNormW pre_layrnorm;
  std::vector<EncoderLayerW> layers;
};

struct ClipVisionOutput {
  Tensor penultimate;        // hidden_states[-2]: [B, tokens, hidden]
  Tensor last_hidden_state;  // the last layer's output (no post_layernorm); undefined unless asked for
};

class ClipVisionEncoder {
 public:
  ClipVisionEncoder(Backend& backend, const ClipVisionConfig& config, WeightSource& weights);
  const ClipVisionConfig& config() const { return config_; }
  // pixel_values [B, C, S, S] (normalised, S = image_size). The last layer runs only when
  // `last_layer` is set: the pipelines need the penultimate states alone.
  ClipVisionOutput forward(const Tensor& pixel_values, bool last_layer);
  size_t weight_bytes() const { return weight_bytes_; }

 private:
  void layer_forward(const EncoderLayerW& w, Tensor& x, int64_t batch);

  Backend& backend_;
  ClipVisionConfig config_;
  ClipVisionWeights w_;
  size_t weight_bytes_ = 0;
};

}  // namespace wan::clip
