#include "models/umt5/umt5.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace wan::umt5 {

int32_t relative_position_bucket(int64_t relative_position, int num_buckets, int max_distance) {
  const int half = num_buckets / 2;
  int32_t bucket = relative_position > 0 ? half : 0;
  const int64_t distance = std::llabs(relative_position);
  const int max_exact = half / 2;
  if (distance < max_exact) return bucket + static_cast<int32_t>(distance);
  // Float32 steps in the reference's order, truncated toward zero as .to(long) does.
  const float ratio = std::log(static_cast<float>(distance) / static_cast<float>(max_exact)) /
                      static_cast<float>(std::log(static_cast<double>(max_distance) / max_exact));
  int64_t large = max_exact + static_cast<int64_t>(ratio * static_cast<float>(half - max_exact));
  if (large > half - 1) large = half - 1;
  return bucket + static_cast<int32_t>(large);
}

Umt5Encoder::Umt5Encoder(Backend& backend, const Umt5Config& config, WeightSource& src)
    : backend_(backend), config_(config) {
  const Umt5Config& c = config_;
  const int64_t inner = int64_t{c.num_heads} * c.d_kv;
  auto take = [&](const std::string& name, const Shape& shape, WeightUse use = WeightUse::Dense) {
    Tensor t = src.take(name, shape, use);
    weight_bytes_ += t.bytes();
    return t;
  };
  constexpr WeightUse kMatrix = WeightUse::Matrix, kTable = WeightUse::Table;
  w_.embed_tokens = take("encoder.embed_tokens.weight", {c.vocab_size, c.d_model}, kTable);
  w_.layers.resize(c.num_layers);
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "encoder.block." + std::to_string(i) + ".layer.";
    LayerW& l = w_.layers[i];
    l.attn_norm = take(p + "0.layer_norm.weight", {c.d_model});
    l.q = take(p + "0.SelfAttention.q.weight", {inner, c.d_model}, kMatrix);
    l.k = take(p + "0.SelfAttention.k.weight", {inner, c.d_model}, kMatrix);
    l.v = take(p + "0.SelfAttention.v.weight", {inner, c.d_model}, kMatrix);
    l.o = take(p + "0.SelfAttention.o.weight", {c.d_model, inner}, kMatrix);
    l.relative_attention_bias = take(p + "0.SelfAttention.relative_attention_bias.weight", {c.num_buckets, c.num_heads});
    l.ffn_norm = take(p + "1.layer_norm.weight", {c.d_model});
    l.wi_0 = take(p + "1.DenseReluDense.wi_0.weight", {c.d_ff, c.d_model}, kMatrix);
    l.wi_1 = take(p + "1.DenseReluDense.wi_1.weight", {c.d_ff, c.d_model}, kMatrix);
    l.wo = take(p + "1.DenseReluDense.wo.weight", {c.d_model, c.d_ff}, kMatrix);
  }
  w_.final_norm = take("encoder.final_layer_norm.weight", {c.d_model});
  src.finish();
}

Tensor Umt5Encoder::forward(const std::vector<int32_t>& ids, const std::vector<int32_t>& mask, int64_t B, int64_t L) {
  Backend& be = backend_;
  const Umt5Config& c = config_;
  if (static_cast<int64_t>(ids.size()) != B * L || static_cast<int64_t>(mask.size()) != B * L)
    fail("E_INVALID_ARGUMENT", "ids and mask must both hold batch x length values");
  const int64_t inner = int64_t{c.num_heads} * c.d_kv, N = B * L;

  std::vector<int32_t> buckets(L * L);
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = 0; j < L; ++j) buckets[i * L + j] = relative_position_bucket(j - i, c.num_buckets, c.max_distance);
  Tensor bucket_t = be.upload_i32(buckets.data(), {L, L});
  Tensor mask_t = be.upload_i32(mask.data(), {B, L});
  Tensor ids_t = be.upload_i32(ids.data(), {N});

  Tensor x = be.empty({N, c.d_model});
  be.embedding(w_.embed_tokens, ids_t, x);
  Tensor h = be.empty({N, c.d_model}), out = be.empty({N, c.d_model});
  Tensor q = be.empty({N, inner}), k = be.empty({N, inner}), v = be.empty({N, inner}), a = be.empty({N, inner});
  Tensor g = be.empty({N, c.d_ff}), u = be.empty({N, c.d_ff});
  auto per_batch = [&](const Tensor& t) { return t.view({B, L, t.dim(-1)}); };
  for (const LayerW& l : w_.layers) {
    be.check_cancel("between text-encoder layers");
    be.rms_norm(x, l.attn_norm, c.eps, h);
    be.linear(h, l.q, nullptr, Activation::None, q);
    be.linear(h, l.k, nullptr, Activation::None, k);
    be.linear(h, l.v, nullptr, Activation::None, v);
    AttentionParams ap;
    ap.heads = c.num_heads;
    ap.scale = 1.0f;  // T5 folds the 1/sqrt(d) into its initialisation
    ap.bias = {&l.relative_attention_bias, &bucket_t};
    ap.key_mask = &mask_t;
    Tensor a3 = per_batch(a);
    be.attention(per_batch(q), per_batch(k), per_batch(v), ap, a3);
    be.linear(a, l.o, nullptr, Activation::None, out);
    be.add_gated(x, out, nullptr, 0);

    be.rms_norm(x, l.ffn_norm, c.eps, h);
    be.linear(h, l.wi_0, nullptr, Activation::GeluTanh, g);
    be.linear(h, l.wi_1, nullptr, Activation::None, u);
    be.multiply(g, u);
    be.linear(g, l.wo, nullptr, Activation::None, out);
    be.add_gated(x, out, nullptr, 0);
  }
  be.rms_norm(x, w_.final_norm, c.eps, x);
  return x.view({B, L, c.d_model});
}

}  // namespace wan::umt5
