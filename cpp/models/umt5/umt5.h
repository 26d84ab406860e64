#pragma once
// The UMT5 encoder (HF UMT5EncoderModel names) that turns prompt ids into the Wan text embeddings:
// RMS norms without mean, unscaled attention with a learned relative-position bias in every layer,
// padding hidden from the keys, and a gated-GELU feed-forward.
#include <cstdint>
#include <vector>

#include "io/weight_source.h"
#include "ops/backend.h"

namespace wan::umt5 {

struct Umt5Config {
  int vocab_size = 256384;
  int d_model = 4096;
  int d_kv = 64;
  int num_heads = 64;
  int d_ff = 10240;
  int num_layers = 24;
  int num_buckets = 32;
  int max_distance = 128;
  float eps = 1e-6f;
};

struct LayerW {
  Tensor attn_norm;                 // layer.0.layer_norm
  Tensor q, k, v, o;                // SelfAttention.{q,k,v,o}, no biases
  Tensor relative_attention_bias;   // [num_buckets, num_heads]
  Tensor ffn_norm;                  // layer.1.layer_norm
  Tensor wi_0, wi_1, wo;            // DenseReluDense: gelu(wi_0 x) * wi_1 x -> wo
};

struct Umt5Weights {
  Tensor embed_tokens;  // [vocab, d_model]
  std::vector<LayerW> layers;
  Tensor final_norm;
};

// Bidirectional T5 relative-position buckets for query i and key j (half the buckets per direction,
// exact up to num_buckets/4, logarithmic up to max_distance).
int32_t relative_position_bucket(int64_t relative_position, int num_buckets, int max_distance);

class Umt5Encoder {
 public:
  Umt5Encoder(Backend& backend, const Umt5Config& config, WeightSource& weights);
  const Umt5Config& config() const { return config_; }
  // ids and mask are [B, L] (mask 1 for real tokens); returns last_hidden_state [B, L, d_model].
  Tensor forward(const std::vector<int32_t>& ids, const std::vector<int32_t>& mask, int64_t batch, int64_t length);
  size_t weight_bytes() const { return weight_bytes_; }

 private:
  Backend& backend_;
  Umt5Config config_;
  Umt5Weights w_;
  size_t weight_bytes_ = 0;
};

}  // namespace wan::umt5
