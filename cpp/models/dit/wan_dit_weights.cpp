// Binds the typed weight structs to canonical (diffusers) tensor names and shapes.
#include <map>
#include <string>

#include "core/error.h"
#include "models/dit/wan_dit.h"

namespace wan::dit {

namespace {

// Binds each tensor into its slot of the weight structs and records the slot by name. The
// matrices of linear() are taken as WeightUse::Matrix (the backend may keep them compressed); the
// patch embedding stays float32 (a 5-D conv kernel viewed as a matrix: small, and widened once).
struct Binder {
  WeightSource& src;
  std::map<std::string, Tensor*>& named;  // every bound slot by canonical name (LoRA targets)
  std::vector<Tensor*>* group = nullptr;   // the residency group being bound (a block, or the rest)
  size_t bytes = 0;

  void take(Tensor& slot, const std::string& name, const Shape& shape, WeightUse use = WeightUse::Dense) {
    slot = src.take(name, shape, use);
    bytes += slot.bytes();
    named[name] = &slot;
    if (group) group->push_back(&slot);
  }
  void linear(LinearW& w, const std::string& prefix, int64_t out, int64_t in) {
    take(w.weight, prefix + ".weight", {out, in}, WeightUse::Matrix);
    take(w.bias, prefix + ".bias", {out});
  }
  void norm(AffineNormW& w, const std::string& prefix, int64_t n) {
    take(w.weight, prefix + ".weight", {n});
    take(w.bias, prefix + ".bias", {n});
  }
};

// Copies to_q, to_k and to_v (and their biases) into one stacked tensor and points the three slots
// at its row ranges: the same bytes in the same representation, so every product reads what it
// read before and memory is unchanged once the separate tensors are released. Weights stored
// differently (mixed dtypes, fp8 with per-tensor scales that differ) stay three products.
void stack_qkv(Backend& be, AttentionW& a) {
  LinearW* parts[3] = {&a.to_q, &a.to_k, &a.to_v};
  const Tensor& q = a.to_q.weight;
  for (LinearW* p : parts)
    if (p->weight.dtype() != q.dtype() || p->weight.scale() != q.scale() || p->weight.shape() != q.shape() ||
        p->bias.dtype() != DType::F32 || p->bias.numel() != q.dim(0))
      return;
  const int64_t D = q.dim(0);
  LinearW stacked;
  stacked.weight = be.empty({3 * D, q.dim(1)}, q.dtype());
  stacked.weight.set_scale(q.scale());
  stacked.bias = be.empty({3 * D}, DType::F32);
  for (int i = 0; i < 3; ++i) {
    Tensor w = stacked.weight.slice0(i * D, (i + 1) * D), b = stacked.bias.narrow_flat(i * D, D);
    be.copy(parts[i]->weight, w);
    be.copy(parts[i]->bias, b);
    parts[i]->weight = w;
    parts[i]->bias = b;
  }
  a.qkv = std::move(stacked);
}

}  // namespace

bool stacked_qkv(const AttentionW& a) {
  const Tensor& w = a.qkv.weight;
  if (!w.defined()) return false;
  const int64_t D = a.to_q.weight.dim(0);
  const LinearW* parts[3] = {&a.to_q, &a.to_k, &a.to_v};
  for (int i = 0; i < 3; ++i)
    if (parts[i]->weight.raw() != w.slice0(i * D, (i + 1) * D).raw() ||
        parts[i]->bias.raw() != a.qkv.bias.narrow_flat(i * D, D).raw())
      return false;
  return true;
}

void WanDit::bind(WeightSource& src) {
  const WanDitConfig& c = config_;
  const int64_t dim = c.dim(), P = c.patch_volume();
  if (c.num_heads <= 0 || c.head_dim <= 0 || c.head_dim % 2 != 0 || c.num_layers < 0)
    fail("E_MODEL_FORMAT", "transformer config: heads and an even head_dim are required");
  Binder b{src, named_};
  // Each block goes to the backend's residency as soon as it is loaded, so that a streamed block
  // leaves the device before the next one arrives (the load's peak is the resident part plus one block).
  residency_ = backend_.make_residency(c.swap_expert, c.start_parked);
  const int resident = c.resident_blocks < 0 ? c.num_layers : c.resident_blocks;
  std::vector<Tensor*> rest;
  b.group = &rest;

  // The 5-D conv3d kernel, viewed as the [dim, C * P] matrix of the patch product.
  b.take(w_.patch_embedding.weight, "patch_embedding.weight", {dim, c.in_channels, c.patch_t, c.patch_h, c.patch_w});
  w_.patch_embedding.weight = w_.patch_embedding.weight.view({dim, c.in_channels * P});
  b.take(w_.patch_embedding.bias, "patch_embedding.bias", {dim});

  b.linear(w_.time_linear_1, "condition_embedder.time_embedder.linear_1", dim, c.freq_dim);
  b.linear(w_.time_linear_2, "condition_embedder.time_embedder.linear_2", dim, dim);
  b.linear(w_.time_proj, "condition_embedder.time_proj", 6 * dim, dim);
  b.linear(w_.text_linear_1, "condition_embedder.text_embedder.linear_1", dim, c.text_dim);
  b.linear(w_.text_linear_2, "condition_embedder.text_embedder.linear_2", dim, dim);
  if (c.image_dim > 0) {
    const std::string p = "condition_embedder.image_embedder.";
    ImageEmbedderW& ie = w_.image_embedder;
    b.norm(ie.norm1, p + "norm1", c.image_dim);
    b.linear(ie.ff_in, p + "ff.net.0.proj", c.image_dim, c.image_dim);
    b.linear(ie.ff_out, p + "ff.net.2", dim, c.image_dim);
    b.norm(ie.norm2, p + "norm2", dim);
    if (c.pos_embed_seq_len > 0) b.take(ie.pos_embed, p + "pos_embed", {1, c.pos_embed_seq_len, c.image_dim});
  }

  // Sized before binding: the named slots point into this vector.
  w_.blocks.resize(c.num_layers);
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    BlockW& blk = w_.blocks[i];
    std::vector<Tensor*> group;
    b.group = &group;
    for (auto [attn, name] : {std::pair<AttentionW*, const char*>{&blk.attn1, "attn1"}, {&blk.attn2, "attn2"}}) {
      const std::string a = p + name + ".";
      b.linear(attn->to_q, a + "to_q", dim, dim);
      b.linear(attn->to_k, a + "to_k", dim, dim);
      b.linear(attn->to_v, a + "to_v", dim, dim);
      b.linear(attn->to_out, a + "to_out.0", dim, dim);
      b.take(attn->norm_q, a + "norm_q.weight", {dim});
      b.take(attn->norm_k, a + "norm_k.weight", {dim});
    }
    if (c.stack_qkv && i < resident && !c.swap_expert) stack_qkv(backend_, blk.attn1);
    if (c.added_kv_proj_dim > 0) {
      b.linear(blk.attn2.add_k_proj, p + "attn2.add_k_proj", dim, c.added_kv_proj_dim);
      b.linear(blk.attn2.add_v_proj, p + "attn2.add_v_proj", dim, c.added_kv_proj_dim);
      b.take(blk.attn2.norm_added_k, p + "attn2.norm_added_k.weight", {dim});
    }
    if (c.cross_attn_norm) b.norm(blk.norm2, p + "norm2", dim);
    b.linear(blk.ffn_in, p + "ffn.net.0.proj", c.ffn_dim, dim);
    b.linear(blk.ffn_out, p + "ffn.net.2", dim, c.ffn_dim);
    b.take(blk.scale_shift_table, p + "scale_shift_table", {1, 6, dim});
    residency_->add(WeightGroup{std::move(group), i >= resident});
    b.group = &rest;
  }
  b.linear(w_.proj_out, "proj_out", c.out_channels * P, dim);
  b.take(w_.scale_shift_table, "scale_shift_table", {1, 2, dim});
  residency_->add(WeightGroup{std::move(rest), false});
  src.finish();
  weight_bytes_ = b.bytes;
}

}  // namespace wan::dit
