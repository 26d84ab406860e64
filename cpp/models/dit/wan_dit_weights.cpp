// Binds the typed weight structs to canonical (diffusers) tensor names and shapes.
#include <map>
#include <string>

#include "core/error.h"
#include "models/dit/wan_dit.h"

namespace wan::dit {

namespace {

struct Binder {
  WeightSource& src;
  std::map<std::string, Tensor>& named;  // every bound tensor by canonical name (LoRA targets)
  size_t bytes = 0;

  Tensor take(const std::string& name, const Shape& shape) {
    Tensor t = src.take(name, shape);
    bytes += t.bytes();
    named[name] = t;
    return t;
  }
  LinearW linear(const std::string& prefix, int64_t out, int64_t in) {
    return {take(prefix + ".weight", {out, in}), take(prefix + ".bias", {out})};
  }
  AffineNormW norm(const std::string& prefix, int64_t n) {
    return {take(prefix + ".weight", {n}), take(prefix + ".bias", {n})};
  }
};

}  // namespace

void WanDit::bind(WeightSource& src) {
  const WanDitConfig& c = config_;
  const int64_t dim = c.dim(), P = c.patch_volume();
  if (c.num_heads <= 0 || c.head_dim <= 0 || c.head_dim % 2 != 0 || c.num_layers < 0)
    fail("E_MODEL_FORMAT", "transformer config: heads and an even head_dim are required");
  Binder b{src, named_};

  Tensor patch = b.take("patch_embedding.weight", {dim, c.in_channels, c.patch_t, c.patch_h, c.patch_w});
  w_.patch_embedding = {patch.view({dim, c.in_channels * P}), b.take("patch_embedding.bias", {dim})};

  w_.time_linear_1 = b.linear("condition_embedder.time_embedder.linear_1", dim, c.freq_dim);
  w_.time_linear_2 = b.linear("condition_embedder.time_embedder.linear_2", dim, dim);
  w_.time_proj = b.linear("condition_embedder.time_proj", 6 * dim, dim);
  w_.text_linear_1 = b.linear("condition_embedder.text_embedder.linear_1", dim, c.text_dim);
  w_.text_linear_2 = b.linear("condition_embedder.text_embedder.linear_2", dim, dim);
  if (c.image_dim > 0) {
    const std::string p = "condition_embedder.image_embedder.";
    w_.image_embedder.norm1 = b.norm(p + "norm1", c.image_dim);
    w_.image_embedder.ff_in = b.linear(p + "ff.net.0.proj", c.image_dim, c.image_dim);
    w_.image_embedder.ff_out = b.linear(p + "ff.net.2", dim, c.image_dim);
    w_.image_embedder.norm2 = b.norm(p + "norm2", dim);
    if (c.pos_embed_seq_len > 0) w_.image_embedder.pos_embed = b.take(p + "pos_embed", {1, c.pos_embed_seq_len, c.image_dim});
  }

  w_.blocks.resize(c.num_layers);
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    BlockW& blk = w_.blocks[i];
    for (auto [attn, name] : {std::pair<AttentionW*, const char*>{&blk.attn1, "attn1"}, {&blk.attn2, "attn2"}}) {
      const std::string a = p + name + ".";
      attn->to_q = b.linear(a + "to_q", dim, dim);
      attn->to_k = b.linear(a + "to_k", dim, dim);
      attn->to_v = b.linear(a + "to_v", dim, dim);
      attn->to_out = b.linear(a + "to_out.0", dim, dim);
      attn->norm_q = b.take(a + "norm_q.weight", {dim});
      attn->norm_k = b.take(a + "norm_k.weight", {dim});
    }
    if (c.added_kv_proj_dim > 0) {
      blk.attn2.add_k_proj = b.linear(p + "attn2.add_k_proj", dim, c.added_kv_proj_dim);
      blk.attn2.add_v_proj = b.linear(p + "attn2.add_v_proj", dim, c.added_kv_proj_dim);
      blk.attn2.norm_added_k = b.take(p + "attn2.norm_added_k.weight", {dim});
    }
    if (c.cross_attn_norm) blk.norm2 = b.norm(p + "norm2", dim);
    blk.ffn_in = b.linear(p + "ffn.net.0.proj", c.ffn_dim, dim);
    blk.ffn_out = b.linear(p + "ffn.net.2", dim, c.ffn_dim);
    blk.scale_shift_table = b.take(p + "scale_shift_table", {1, 6, dim});
  }
  w_.proj_out = b.linear("proj_out", c.out_channels * P, dim);
  w_.scale_shift_table = b.take("scale_shift_table", {1, 2, dim});
  src.finish();
  weight_bytes_ = b.bytes;
}

}  // namespace wan::dit
