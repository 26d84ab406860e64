// The forward of transformers' CLIPVisionModel, step by step, up to the hidden states Wan uses.
#include "models/clip/clip_vision.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace wan::clip {

ClipVisionEncoder::ClipVisionEncoder(Backend& backend, const ClipVisionConfig& config, WeightSource& src)
    : backend_(backend), config_(config) {
  const ClipVisionConfig& c = config_;
  if (c.hidden_size % c.num_heads != 0) fail("E_MODEL_FORMAT", "CLIP hidden_size must be a multiple of num_attention_heads");
  if (c.image_size % c.patch_size != 0) fail("E_MODEL_FORMAT", "CLIP image_size must be a multiple of patch_size");
  if (c.num_layers < 1) fail("E_MODEL_FORMAT", "CLIP needs at least one encoder layer (hidden_states[-2] is the input of the last)");
  const int64_t D = c.hidden_size, F = c.intermediate_size, P = c.patch_size;
  // The layers' linear() matrices may stay at their stored precision (the backend's choice); the
  // patch embedding is a 4-D conv kernel viewed as a matrix, taken as float32 like the rest.
  auto take = [&](const std::string& name, const Shape& shape, WeightUse use = WeightUse::Dense) {
    Tensor t = src.take(name, shape, use);
    weight_bytes_ += t.bytes();
    return t;
  };
  auto linear = [&](const std::string& p, int64_t out, int64_t in) {
    return LinearW{take(p + ".weight", {out, in}, WeightUse::Matrix), take(p + ".bias", {out})};
  };
  auto norm = [&](const std::string& p) { return LayerNormW{take(p + ".weight", {D}), take(p + ".bias", {D})}; };

  w_.patch_embedding = take("embeddings.patch_embedding.weight", {D, c.num_channels, P, P}).view({D, c.num_channels * P * P});
  w_.class_embedding = take("embeddings.class_embedding", {D});
  w_.position_embedding = take("embeddings.position_embedding.weight", {c.tokens(), D});
  w_.pre_layrnorm = norm("pre_layrnorm");
  w_.layers.resize(c.num_layers);
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "encoder.layers." + std::to_string(i) + ".";
    EncoderLayerW& l = w_.layers[i];
    l.layer_norm1 = norm(p + "layer_norm1");
    l.q_proj = linear(p + "self_attn.q_proj", D, D);
    l.k_proj = linear(p + "self_attn.k_proj", D, D);
    l.v_proj = linear(p + "self_attn.v_proj", D, D);
    l.out_proj = linear(p + "self_attn.out_proj", D, D);
    l.layer_norm2 = norm(p + "layer_norm2");
    l.fc1 = linear(p + "mlp.fc1", F, D);
    l.fc2 = linear(p + "mlp.fc2", D, F);
  }
  src.finish();
}

void ClipVisionEncoder::layer_forward(const EncoderLayerW& w, Tensor& x, int64_t B) {
  Backend& be = backend_;
  const ClipVisionConfig& c = config_;
  const int64_t N = x.dim(0), D = c.hidden_size;
  Tensor h = be.empty({N, D}), q = be.empty({N, D}), k = be.empty({N, D}), v = be.empty({N, D});
  Tensor a = be.empty({N, D}), out = be.empty({N, D}), mid = be.empty({N, int64_t{c.intermediate_size}});
  auto per_batch = [&](const Tensor& t) { return t.view({B, N / B, t.dim(-1)}); };

  // Self-attention over all tokens (no mask), scaled by head_dim^-0.5.
  be.layer_norm(x, &w.layer_norm1.weight, &w.layer_norm1.bias, c.eps, h);
  be.linear(h, w.q_proj.weight, &w.q_proj.bias, Activation::None, q);
  be.linear(h, w.k_proj.weight, &w.k_proj.bias, Activation::None, k);
  be.linear(h, w.v_proj.weight, &w.v_proj.bias, Activation::None, v);
  AttentionParams ap;
  ap.heads = c.num_heads;
  ap.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim()));
  Tensor a3 = per_batch(a);
  be.attention(per_batch(q), per_batch(k), per_batch(v), ap, a3);
  be.linear(a, w.out_proj.weight, &w.out_proj.bias, Activation::None, out);
  be.add_gated(x, out, nullptr, 0);

  // MLP: fc1 -> exact GELU ("gelu" in the ViT-H config) -> fc2.
  be.layer_norm(x, &w.layer_norm2.weight, &w.layer_norm2.bias, c.eps, h);
  be.linear(h, w.fc1.weight, &w.fc1.bias, Activation::GeluErf, mid);
  be.linear(mid, w.fc2.weight, &w.fc2.bias, Activation::None, out);
  be.add_gated(x, out, nullptr, 0);
}

ClipVisionOutput ClipVisionEncoder::forward(const Tensor& pixels, bool last_layer) {
  Backend& be = backend_;
  const ClipVisionConfig& c = config_;
  if (pixels.rank() != 4 || pixels.dim(1) != c.num_channels || pixels.dim(2) != c.image_size || pixels.dim(3) != c.image_size)
    fail("E_INVALID_ARGUMENT", "pixel_values must be [B, " + std::to_string(c.num_channels) + ", " +
                                   std::to_string(c.image_size) + ", " + std::to_string(c.image_size) + "], got " +
                                   shape_str(pixels.shape()));
  const int64_t B = pixels.dim(0), G = c.grid(), patches = G * G, T = c.tokens(), D = c.hidden_size;
  const int64_t K = int64_t{c.num_channels} * c.patch_size * c.patch_size;

  // Patch embedding: the stride-P conv as patchify + a bias-free linear, written after the class token.
  Tensor cols = be.empty({B, patches, K});
  PatchParams pp;
  pp.pt = 1;
  pp.ph = pp.pw = c.patch_size;
  be.patchify(pixels.view({B, c.num_channels, 1, int64_t{c.image_size}, int64_t{c.image_size}}), pp, cols);
  Tensor flat_cols = cols.view({B * patches, K});
  Tensor x = be.empty({B * T, D});
  for (int64_t b = 0; b < B; ++b) {
    Tensor cls = x.slice0(b * T, b * T + 1);
    be.copy(w_.class_embedding, cls);
    Tensor rows = x.slice0(b * T + 1, (b + 1) * T);
    be.linear(flat_cols.slice0(b * patches, (b + 1) * patches), w_.patch_embedding, nullptr, Activation::None, rows);
  }
  Tensor x3 = x.view({B, T, D});
  be.add_positional(x3, w_.position_embedding);
  be.layer_norm(x, &w_.pre_layrnorm.weight, &w_.pre_layrnorm.bias, c.eps, x);

  // hidden_states[-2] is the input of the last layer.
  const int n = static_cast<int>(w_.layers.size());
  for (int i = 0; i + 1 < n; ++i) layer_forward(w_.layers[i], x, B);
  ClipVisionOutput out;
  if (!last_layer) {
    out.penultimate = x.view({B, T, D});
    return out;
  }
  out.penultimate = be.empty({B, T, D});
  be.copy(x, out.penultimate);
  if (n > 0) layer_forward(w_.layers[n - 1], x, B);
  out.last_hidden_state = x.view({B, T, D});
  return out;
}

}  // namespace wan::clip
