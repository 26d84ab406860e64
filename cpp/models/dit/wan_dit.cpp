// The forward of WanTransformer3DModel, step by step as diffusers writes it.
#include "models/dit/wan_dit.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "models/dit/rope3d.h"

namespace wan::dit {

// Buffers reused by every block of one forward.
struct WanDit::Scratch {
  Tensor norm, q, k, v, attn;            // video tokens
  Tensor wide;                           // holds ffn, and qkv before it (never live together)
  Tensor ffn, qkv;                       // views of wide: [B*S, ffn_dim], [B*S, 3*dim]
  Tensor ctx_k, ctx_v;                   // text tokens
  Tensor img_k, img_v;                   // image tokens (Wan2.1 I2V)
};

WanDit::WanDit(Backend& backend, const WanDitConfig& config, WeightSource& weights)
    : backend_(backend), config_(config) {
  bind(weights);
}

namespace {

// Copies a tensor into the trace (the buffers it comes from are reused later in the forward).
void record(Backend& be, Trace* trace, const char* name, const Tensor& t, Shape shape) {
  if (!trace) return;
  Tensor c = be.empty(shape, DType::F32);
  be.copy(t, c);
  trace->tensors.emplace_back(name, std::move(c));
}

// Expands per-row tensors [R, n] to the caller's view [B, n] or [B, S, n] through row_of_token.
void record_rows(Backend& be, Trace* trace, const char* name, const Tensor& rows, const std::vector<int32_t>& row_of,
                 Shape shape) {
  if (!trace) return;
  const int64_t n = rows.dim(-1);
  std::vector<float> host(rows.numel()), out(row_of.size() * n);
  be.download(rows, host.data());
  for (size_t t = 0; t < row_of.size(); ++t)
    std::copy(host.begin() + row_of[t] * n, host.begin() + (row_of[t] + 1) * n, out.begin() + t * n);
  trace->tensors.emplace_back(name, be.upload(out.data(), shape));
}

}  // namespace

void WanDit::block_forward(const BlockW& w, Tensor& x, const Tensor& context, const Tensor* image,
                           const Modulation& mod, const Tensor& rope_cos, const Tensor& rope_sin, int64_t batch,
                           Scratch& s) {
  Backend& be = backend_;
  const WanDitConfig& c = config_;
  AttentionParams attn_params;  // no relative bias, no key mask: Wan attends every token
  attn_params.heads = c.num_heads;
  attn_params.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  auto per_batch = [&](const Tensor& t) { return t.view({batch, t.dim(0) / batch, t.dim(-1)}); };

  // Self-attention on modulated, normalised tokens; q and k RMS-normed across heads, then rotated
  // (one op each, writing attention's inputs), from one stacked Q/K/V product where loading made one.
  be.layer_norm_modulated(x, mod, /*shift*/ 0, /*scale*/ 1, c.eps, s.norm);
  NormRopeParams nr;
  nr.heads = c.num_heads;
  nr.eps = c.eps;
  nr.cos = &rope_cos;
  nr.sin = &rope_sin;
  const int64_t dim = c.dim();
  if (stacked_qkv(w.attn1)) {
    be.linear_stacked(s.norm, w.attn1.qkv.weight, &w.attn1.qkv.bias, {dim, dim, dim}, s.qkv);
    nr.column = 0;
    be.rms_norm_rope(s.qkv, w.attn1.norm_q, nr, s.q);
    nr.column = dim;
    be.rms_norm_rope(s.qkv, w.attn1.norm_k, nr, s.k);
    ChannelCopyParams v_cols;
    v_cols.src_offset = static_cast<int>(2 * dim);
    v_cols.count = static_cast<int>(dim);
    be.copy_channels(s.qkv, v_cols, s.v);
  } else {
    be.linear(s.norm, w.attn1.to_q.weight, &w.attn1.to_q.bias, Activation::None, s.q);
    be.linear(s.norm, w.attn1.to_k.weight, &w.attn1.to_k.bias, Activation::None, s.k);
    be.linear(s.norm, w.attn1.to_v.weight, &w.attn1.to_v.bias, Activation::None, s.v);
    be.rms_norm_rope(s.q, w.attn1.norm_q, nr, s.q);
    be.rms_norm_rope(s.k, w.attn1.norm_k, nr, s.k);
  }
  Tensor a3 = per_batch(s.attn);
  be.attention(per_batch(s.q), per_batch(s.k), per_batch(s.v), attn_params, a3);
  // Output projection and gated residual add as one op.
  be.linear_add_gated(s.attn, w.attn1.to_out.weight, &w.attn1.to_out.bias, &mod, /*gate*/ 2, x);

  // Cross-attention to the text (plus, for Wan2.1 I2V, the image tokens through their own K/V).
  const Tensor* cross_in = &x;
  if (c.cross_attn_norm) {
    be.layer_norm(x, &w.norm2.weight, &w.norm2.bias, c.eps, s.norm);
    cross_in = &s.norm;
  }
  be.linear(*cross_in, w.attn2.to_q.weight, &w.attn2.to_q.bias, Activation::None, s.q);
  be.rms_norm(s.q, w.attn2.norm_q, c.eps, s.q);
  be.linear(context, w.attn2.to_k.weight, &w.attn2.to_k.bias, Activation::None, s.ctx_k);
  be.rms_norm(s.ctx_k, w.attn2.norm_k, c.eps, s.ctx_k);
  be.linear(context, w.attn2.to_v.weight, &w.attn2.to_v.bias, Activation::None, s.ctx_v);
  be.attention(per_batch(s.q), per_batch(s.ctx_k), per_batch(s.ctx_v), attn_params, a3);
  if (image) {
    be.linear(*image, w.attn2.add_k_proj.weight, &w.attn2.add_k_proj.bias, Activation::None, s.img_k);
    be.rms_norm(s.img_k, w.attn2.norm_added_k, c.eps, s.img_k);
    be.linear(*image, w.attn2.add_v_proj.weight, &w.attn2.add_v_proj.bias, Activation::None, s.img_v);
    AttentionParams acc = attn_params;
    acc.accumulate = true;
    be.attention(per_batch(s.q), per_batch(s.img_k), per_batch(s.img_v), acc, a3);
  }
  be.linear_add_gated(s.attn, w.attn2.to_out.weight, &w.attn2.to_out.bias, nullptr, 0, x);

  // Feed-forward on modulated tokens, gated back into the residual stream.
  be.layer_norm_modulated(x, mod, /*shift*/ 3, /*scale*/ 4, c.eps, s.norm);
  be.linear(s.norm, w.ffn_in.weight, &w.ffn_in.bias, Activation::GeluTanh, s.ffn);
  be.linear_add_gated(s.ffn, w.ffn_out.weight, &w.ffn_out.bias, &mod, /*gate*/ 5, x);
}

const WanDit::RopeTables& WanDit::rope_tables(int64_t frames, int64_t height, int64_t width) {
  constexpr size_t kShapes = 4;
  for (size_t i = 0; i < rope_cache_.size(); ++i) {
    const RopeTables& t = rope_cache_[i];
    if (t.frames == frames && t.height == height && t.width == width) {
      std::rotate(rope_cache_.begin() + i, rope_cache_.begin() + i + 1, rope_cache_.end());
      return rope_cache_.back();
    }
  }
  const WanDitConfig& c = config_;
  const RopeTable host = build_rope3d(c.head_dim, static_cast<int>(frames), static_cast<int>(height),
                                      static_cast<int>(width), c.rope_max_seq_len);
  const int64_t S = frames * height * width;
  RopeTables t{frames, height, width, backend_.upload(host.cos.data(), {S, c.head_dim / 2}),
               backend_.upload(host.sin.data(), {S, c.head_dim / 2})};
  if (rope_cache_.size() == kShapes) rope_cache_.erase(rope_cache_.begin());
  rope_cache_.push_back(std::move(t));
  return rope_cache_.back();
}

DitPass WanDit::begin(const DitInputs& in, Trace* trace) {
  Backend& be = backend_;
  const WanDitConfig& c = config_;
  residency_->acquire(c.num_layers);  // the embeddings (brought back if this expert was parked)
  const int64_t dim = c.dim();
  const Tensor& hs = in.hidden_states;
  if (hs.rank() != 5 || hs.dim(1) != c.in_channels)
    fail("E_INVALID_ARGUMENT", "hidden_states must be [B, " + std::to_string(c.in_channels) + ", F, H, W], got " +
                                   shape_str(hs.shape()));
  const int64_t B = hs.dim(0), F = hs.dim(2), H = hs.dim(3), W = hs.dim(4);
  if (F % c.patch_t || H % c.patch_h || W % c.patch_w || F == 0 || H == 0 || W == 0)
    fail("E_INVALID_ARGUMENT", "latent size " + std::to_string(F) + "x" + std::to_string(H) + "x" + std::to_string(W) +
                                   " is not divisible by the patch size");
  const int64_t Fp = F / c.patch_t, Hp = H / c.patch_h, Wp = W / c.patch_w, S = Fp * Hp * Wp, P = c.patch_volume();
  const Tensor& ctx_in = in.context;
  if (ctx_in.rank() != 3 || ctx_in.dim(0) != B || ctx_in.dim(2) != c.text_dim)
    fail("E_INVALID_ARGUMENT", "encoder_hidden_states must be [" + std::to_string(B) + ", L, " +
                                   std::to_string(c.text_dim) + "], got " + shape_str(ctx_in.shape()));
  const int64_t L = ctx_in.dim(1);
  const size_t expected_t = static_cast<size_t>(in.per_token_timestep ? B * S : B);
  if (in.timestep.size() != expected_t)
    fail("E_INVALID_ARGUMENT", "timestep must have " + std::to_string(expected_t) + " values (" +
                                   (in.per_token_timestep ? "one per token" : "one per sample") + "), got " +
                                   std::to_string(in.timestep.size()));

  for (float t : in.timestep)
    if (!std::isfinite(t)) fail("E_INVALID_ARGUMENT", "timestep values must be finite");

  // Patch embedding: the conv3d with kernel == stride is a matrix product over flattened patches.
  Tensor patches = be.empty({B * S, c.in_channels * P});
  be.patchify(hs, {c.patch_t, c.patch_h, c.patch_w}, patches);
  Tensor x = be.empty({B * S, dim});
  be.linear(patches, w_.patch_embedding.weight, &w_.patch_embedding.bias, Activation::None, x);
  patches = Tensor();
  record(be, trace, "patch_embedding", x, {B, S, dim});

  // Time embedding, once per distinct timestep (TI2V has two values across thousands of tokens).
  std::vector<float> t_rows;
  std::vector<int32_t> row_of_token(B * S);
  {
    std::map<float, int32_t> index;
    for (int64_t t = 0; t < B * S; ++t) {
      const float v = in.per_token_timestep ? in.timestep[t] : in.timestep[t / S];
      auto it = index.find(v);
      if (it == index.end()) {
        it = index.emplace(v, static_cast<int32_t>(t_rows.size())).first;
        t_rows.push_back(v);
      }
      row_of_token[t] = it->second;
    }
  }
  const int64_t R = static_cast<int64_t>(t_rows.size());
  std::vector<int32_t> trace_rows;  // rows as the caller shaped the timestep
  if (trace) {
    if (in.per_token_timestep) trace_rows = row_of_token;
    else
      for (int64_t b = 0; b < B; ++b) trace_rows.push_back(row_of_token[b * S]);
  }
  const Shape trace_shape_dim = in.per_token_timestep ? Shape{B, S, dim} : Shape{B, dim};
  const Shape trace_shape_6dim = in.per_token_timestep ? Shape{B, S, 6 * dim} : Shape{B, 6 * dim};

  Tensor t_dev = be.upload(t_rows.data(), {R});
  Tensor row_of = be.upload_i32(row_of_token.data(), {B * S});
  Tensor t_freq = be.empty({R, c.freq_dim});
  be.timestep_embedding(t_dev, t_freq);
  Tensor temb_hidden = be.empty({R, dim});
  be.linear(t_freq, w_.time_linear_1.weight, &w_.time_linear_1.bias, Activation::Silu, temb_hidden);
  Tensor temb = be.empty({R, dim});
  be.linear(temb_hidden, w_.time_linear_2.weight, &w_.time_linear_2.bias, Activation::None, temb);
  record_rows(be, trace, "temb", temb, trace_rows, trace_shape_dim);
  be.activation(temb, Activation::Silu, temb_hidden);
  Tensor timestep_proj = be.empty({R, 6 * dim});
  be.linear(temb_hidden, w_.time_proj.weight, &w_.time_proj.bias, Activation::None, timestep_proj);
  record_rows(be, trace, "timestep_proj", timestep_proj, trace_rows, trace_shape_6dim);

  // Text projection.
  Tensor ctx_hidden = be.empty({B * L, dim});
  be.linear(ctx_in.view({B * L, c.text_dim}), w_.text_linear_1.weight, &w_.text_linear_1.bias, Activation::GeluTanh,
            ctx_hidden);
  Tensor context = be.empty({B * L, dim});
  be.linear(ctx_hidden, w_.text_linear_2.weight, &w_.text_linear_2.bias, Activation::None, context);
  ctx_hidden = Tensor();
  record(be, trace, "text_embedding", context, {B, L, dim});

  // Image tokens (Wan2.1 I2V/FLF2V): CLIP features through norm, MLP, norm.
  Tensor image;
  int64_t Li = 0;
  if (c.image_dim > 0) {
    Tensor img = in.context_image;
    if (!img.defined())
      fail("E_INVALID_ARGUMENT", "this transformer (Wan2.1 I2V layout) needs encoder_hidden_states_image");
    if (img.rank() != 3 || img.dim(2) != c.image_dim)
      fail("E_INVALID_ARGUMENT", "encoder_hidden_states_image must be [B, L, " + std::to_string(c.image_dim) +
                                     "], got " + shape_str(img.shape()));
    Tensor work = be.empty(img.shape());
    be.copy(img, work);
    if (w_.image_embedder.pos_embed.defined()) {
      // FLF2V: first- and last-frame features are joined into one sequence before the position embedding.
      const int64_t seq = img.dim(1);
      if (img.dim(0) % 2 || 2 * seq != c.pos_embed_seq_len)
        fail("E_INVALID_ARGUMENT", "FLF2V image features must pair up to " + std::to_string(c.pos_embed_seq_len) +
                                       " tokens, got " + shape_str(img.shape()));
      work = work.view({img.dim(0) / 2, 2 * seq, c.image_dim});
      be.add_positional(work, w_.image_embedder.pos_embed);
    }
    if (work.dim(0) != B)
      fail("E_INVALID_ARGUMENT", "encoder_hidden_states_image batch " + std::to_string(work.dim(0)) +
                                     " does not match the latent batch " + std::to_string(B));
    Li = work.dim(1);
    const ImageEmbedderW& ie = w_.image_embedder;
    // These two norms are plain nn.LayerNorm in the reference, with its default eps, not config.eps.
    const float image_norm_eps = 1e-5f;
    Tensor flat = work.view({B * Li, c.image_dim});
    be.layer_norm(flat, &ie.norm1.weight, &ie.norm1.bias, image_norm_eps, flat);
    Tensor mid = be.empty({B * Li, c.image_dim});
    be.linear(flat, ie.ff_in.weight, &ie.ff_in.bias, Activation::GeluErf, mid);
    image = be.empty({B * Li, dim});
    be.linear(mid, ie.ff_out.weight, &ie.ff_out.bias, Activation::None, image);
    be.layer_norm(image, &ie.norm2.weight, &ie.norm2.bias, image_norm_eps, image);
    record(be, trace, "image_embedding", image, {B, Li, dim});
  }

  const RopeTables& rope = rope_tables(Fp, Hp, Wp);

  DitPass pass;
  pass.batch = B;
  pass.tokens = S;
  pass.latent_shape = {B, c.out_channels, F, H, W};
  pass.x = std::move(x);
  pass.temb = std::move(temb);
  pass.timestep_proj = std::move(timestep_proj);
  pass.row_of_token = std::move(row_of);
  pass.context = std::move(context);
  pass.image = std::move(image);
  pass.rope_cos = rope.cos;  // shared with the cache: read only
  pass.rope_sin = rope.sin;
  return pass;
}

void WanDit::run_blocks(DitPass& pass, int first, int last, Trace* trace) {
  Backend& be = backend_;
  const WanDitConfig& c = config_;
  if (first < 0 || last > c.num_layers || first > last)
    fail("E_INVALID_ARGUMENT", "blocks [" + std::to_string(first) + ", " + std::to_string(last) + ") outside the model's " +
                                   std::to_string(c.num_layers) + " layers");
  if (first == last) return;
  const int64_t dim = c.dim(), B = pass.batch, S = pass.tokens;
  const int64_t L = pass.context.dim(0) / B;
  const int64_t R = pass.temb.dim(0);
  Scratch s;
  s.norm = be.empty({B * S, dim});
  s.q = be.empty({B * S, dim});
  s.k = be.empty({B * S, dim});
  s.v = be.empty({B * S, dim});
  s.attn = be.empty({B * S, dim});
  const int64_t wide = std::max<int64_t>(c.ffn_dim, 3 * dim);
  s.wide = be.empty({B * S * wide});
  s.ffn = s.wide.narrow_flat(0, B * S * c.ffn_dim).view({B * S, c.ffn_dim});
  s.qkv = s.wide.narrow_flat(0, B * S * 3 * dim).view({B * S, 3 * dim});
  s.ctx_k = be.empty({B * L, dim});
  s.ctx_v = be.empty({B * L, dim});
  if (pass.image.defined()) {
    s.img_k = be.empty(pass.image.shape());
    s.img_v = be.empty(pass.image.shape());
  }
  Tensor mod_rows = be.empty({R, 6, dim});
  const Modulation mod{&mod_rows, &pass.row_of_token};
  for (int i = first; i < last; ++i) {
    be.check_cancel("between transformer blocks");
    residency_->acquire(i);  // a streamed block's weights arrive (and the next one's copy starts)
    const BlockW& blk = w_.blocks[i];
    be.modulation_rows(blk.scale_shift_table.view({6, dim}), pass.timestep_proj, mod_rows);
    block_forward(blk, pass.x, pass.context, pass.image.defined() ? &pass.image : nullptr, mod, pass.rope_cos,
                  pass.rope_sin, B, s);
    if (i == 0) record(be, trace, "block0", pass.x, {B, S, dim});
  }
}

Tensor WanDit::finish(DitPass& pass) {
  Backend& be = backend_;
  const WanDitConfig& c = config_;
  residency_->acquire(c.num_layers);  // the output head; the next forward's first streamed block starts arriving
  const int64_t dim = c.dim(), B = pass.batch, S = pass.tokens, P = c.patch_volume();
  const int64_t R = pass.temb.dim(0);
  // Output: modulated norm with the final table and temb, projection, patches back to a latent.
  Tensor out_mod = be.empty({R, 2, dim});
  be.modulation_rows(w_.scale_shift_table.view({2, dim}), pass.temb, out_mod);
  Tensor normed = be.empty({B * S, dim});
  be.layer_norm_modulated(pass.x, Modulation{&out_mod, &pass.row_of_token}, /*shift*/ 0, /*scale*/ 1, c.eps, normed);
  Tensor proj = be.empty({B * S, P * c.out_channels});
  be.linear(normed, w_.proj_out.weight, &w_.proj_out.bias, Activation::None, proj);
  Tensor sample = be.empty(pass.latent_shape);
  be.unpatchify(proj, {c.patch_t, c.patch_h, c.patch_w}, sample);
  return sample;
}

void WanDit::park() {
  if (config_.swap_expert) residency_->park();
}

void WanDit::unpark() {
  if (config_.swap_expert) residency_->unpark();
}

Tensor WanDit::forward(const DitInputs& in, Trace* trace) {
  DitPass pass = begin(in, trace);
  run_blocks(pass, 0, config_.num_layers, trace);
  return finish(pass);
}

}  // namespace wan::dit
