// Whole models built on both backends from the same RandomWeightSource seed: the Wan transformer
// (text-to-video, image-to-video with the image branch, per-token timesteps), the UMT5 encoder and the VAE
// decoders of Wan2.1 and Wan2.2, and the CLIP vision encoder of Wan2.1 I2V, small configurations.
#include <algorithm>
#include <cmath>
#include <string>

#include "io/weight_source.h"
#include "models/clip/clip_vision.h"
#include "models/dit/wan_dit.h"
#include "models/rife/rife.h"
#include "models/umt5/umt5.h"
#include "models/vae/wan_vae.h"
#include "tests/backend_parity/harness.h"

namespace wan::parity {

namespace {

dit::WanDitConfig small_dit(bool i2v) {
  dit::WanDitConfig c;
  c.num_heads = 2;
  c.head_dim = 64;  // a flash-eligible head size
  c.in_channels = 16;
  c.out_channels = 16;
  c.text_dim = 96;
  c.freq_dim = 256;
  c.ffn_dim = 320;
  c.num_layers = 2;
  if (i2v) {
    c.image_dim = 80;
    c.added_kv_proj_dim = 128;
  }
  return c;
}

double dit_parity(Ctx& c, bool i2v, bool per_token) {
  const dit::WanDitConfig cfg = small_dit(i2v);
  // Weights of std 0.05: large enough that every block changes the residual stream measurably.
  RandomWeightSource wr(c.ref(), 1234, 0.05f), wd(c.dut(), 1234, 0.05f);
  dit::WanDit mr(c.ref(), cfg, wr), md(c.dut(), cfg, wd);
  const int64_t B = 2, F = 3, H = 8, W = 10, L = 11, S = F * (H / 2) * (W / 2);
  Twin hs = c.input({B, cfg.in_channels, F, H, W}, -1.5f, 1.5f);
  Twin ctx = c.input({B, L, cfg.text_dim});
  Twin img = i2v ? c.input({B, 9, cfg.image_dim}) : Twin{};
  std::vector<float> t = per_token ? std::vector<float>(static_cast<size_t>(B * S), 0.0f) : std::vector<float>{937.5f, 12.0f};
  if (per_token)  // TI2V: the first latent frame's tokens at t = 0, the rest at the step's t
    for (int64_t i = 0; i < B * S; ++i) t[i] = (i % S) < S / F ? 0.0f : 700.0f;
  dit::DitInputs ir{hs.ref, t, per_token, ctx.ref, i2v ? img.ref : Tensor()};
  dit::DitInputs id{hs.dut, t, per_token, ctx.dut, i2v ? img.dut : Tensor()};
  Tensor yr = mr.forward(ir), yd = md.forward(id);
  return c.rel_l2(c.download_ref(yr), c.download_dut(yd));
}

// A LoRA merge re-points a slot at a merged copy (WeightPatcher): with blocks.*.attn1.to_q merged,
// the forward must leave the stacked Q/K/V product and take three products, or the merge would be
// ignored. The reference's output has to change (else the check fails), and the device has to
// agree with it on the same merged weights.
double dit_merged_q_parity(Ctx& c) {
  const dit::WanDitConfig cfg = small_dit(false);
  RandomWeightSource wr(c.ref(), 1234, 0.05f), wd(c.dut(), 1234, 0.05f);
  dit::WanDit mr(c.ref(), cfg, wr), md(c.dut(), cfg, wd);
  const int64_t B = 1, F = 2, H = 6, W = 8, L = 7, dim = cfg.dim();
  Twin hs = c.input({B, cfg.in_channels, F, H, W}, -1.5f, 1.5f);
  Twin ctx = c.input({B, L, cfg.text_dim});
  const std::vector<float> t{500.0f};
  dit::DitInputs ir{hs.ref, t, false, ctx.ref, Tensor()}, id{hs.dut, t, false, ctx.dut, Tensor()};
  const std::vector<float> before = c.download_ref(mr.forward(ir));
  std::vector<Tensor> keep;  // the merged copies the slots point at
  for (int i = 0; i < cfg.num_layers; ++i) {
    const std::string name = "blocks." + std::to_string(i) + ".attn1.to_q.weight";
    Twin delta = c.input({dim, dim}, -0.05f, 0.05f);
    Tensor* sr = mr.weights_by_name().at(name);
    Tensor* sd = md.weights_by_name().at(name);
    Tensor wr2 = c.ref().mergeable_copy(*sr), wd2 = c.dut().mergeable_copy(*sd);
    c.ref().add_to_weight(wr2, delta.ref, 0.7f);
    c.dut().add_to_weight(wd2, delta.dut, 0.7f);
    *sr = wr2;
    *sd = wd2;
    keep.push_back(wr2);
    keep.push_back(wd2);
  }
  const std::vector<float> after = c.download_ref(mr.forward(ir));
  if (after == before) return INFINITY;  // the merged q was not read
  return c.rel_l2(after, c.download_dut(md.forward(id)));
}

// RoPE tables are cached per latent grid: the reference runs grids A, B, A in turn on one model,
// the device B then A, so each result comes from a table built at another point of the cache's
// life (a table served for the wrong grid, same token count included, shows: 4x6 and 6x4).
double dit_grids_parity(Ctx& c) {
  const dit::WanDitConfig cfg = small_dit(false);
  RandomWeightSource wr(c.ref(), 77, 0.05f), wd(c.dut(), 77, 0.05f);
  dit::WanDit mr(c.ref(), cfg, wr), md(c.dut(), cfg, wd);
  Twin ctx = c.input({1, 5, cfg.text_dim});
  Twin a = c.input({1, cfg.in_channels, 2, 8, 12}, -1.5f, 1.5f), b = c.input({1, cfg.in_channels, 2, 12, 8}, -1.5f, 1.5f);
  const std::vector<float> t{400.0f};
  auto run = [&](dit::WanDit& m, const Tensor& hs, const Tensor& text) {
    return m.forward(dit::DitInputs{hs, t, false, text, Tensor()});
  };
  run(mr, a.ref, ctx.ref);
  const Tensor rb = run(mr, b.ref, ctx.ref), ra = run(mr, a.ref, ctx.ref);
  const Tensor db = run(md, b.dut, ctx.dut), da = run(md, a.dut, ctx.dut);
  return std::max(c.rel_l2(c.download_ref(rb), c.download_dut(db)), c.rel_l2(c.download_ref(ra), c.download_dut(da)));
}

// Offload (Backend::make_residency): a 4-block transformer with 1 block resident and 3 streamed
// through the two device slots, loaded parked (an idle A14B expert), run twice (the second
// forward's prefetch wraps around from the output head), parked and brought back in between.
// Against the resident model on the reference backend; with `device_only`, against the resident
// model on the device under test itself, where the results must be identical (the same ops on the
// same bytes). On the CPU backend the residency is the no-op.
double dit_offload_parity(Ctx& c, bool device_only) {
  dit::WanDitConfig cfg = small_dit(false);
  cfg.num_layers = 4;
  // The offloaded model keeps Q/K/V as three products (its blocks move); so does its reference,
  // so that the device-only comparison is of the same products.
  cfg.stack_qkv = false;
  dit::WanDitConfig off = cfg;
  off.resident_blocks = 1;
  off.swap_expert = true;
  off.start_parked = true;
  Backend& ref_backend = device_only ? c.dut() : c.ref();
  RandomWeightSource wr(ref_backend, 77, 0.05f), wd(c.dut(), 77, 0.05f);
  dit::WanDit mr(ref_backend, cfg, wr), md(c.dut(), off, wd);
  if (!md.moves_weights() && c.dut().device() == Device::CUDA) return INFINITY;  // the CUDA residency must engage
  const int64_t B = 1, F = 3, H = 8, W = 10, L = 11;
  const auto hs = c.random(B * cfg.in_channels * F * H * W, -1.5f, 1.5f);
  const auto ctx = c.random(B * L * cfg.text_dim);
  auto run = [&](Backend& be, dit::WanDit& m, float t) {
    Tensor x = be.upload(hs.data(), {B, cfg.in_channels, F, H, W});
    Tensor k = be.upload(ctx.data(), {B, L, cfg.text_dim});
    return m.forward(dit::DitInputs{x, {t}, false, k, Tensor()});
  };
  auto down = [&](bool dut, const Tensor& t) { return dut ? c.download_dut(t) : c.download_ref(t); };
  std::vector<float> ref, got;
  for (float t : {937.5f, 400.0f}) {
    const auto r = down(device_only, run(ref_backend, mr, t));
    const auto d = down(true, run(c.dut(), md, t));
    ref.insert(ref.end(), r.begin(), r.end());
    got.insert(got.end(), d.begin(), d.end());
    md.park();  // the other expert's turn; the next forward brings this one back
  }
  return c.rel_l2(ref, got);
}

// Streaming without parking (Wan2.1 14B or TI2V 5B over a budget: the common offload): 1 of 4
// blocks resident (its Q/K/V stacked, the streamed ones as three products), three forwards in a row
// (the second and third find their first streamed block prefetched by the previous forward's head),
// then a pass that skips blocks 1 and 2 as a step cache does (block 3 is not the prefetched one).
// Against the all-resident model on the reference backend.
double dit_stream_parity(Ctx& c) {
  dit::WanDitConfig cfg = small_dit(false);
  cfg.num_layers = 4;
  dit::WanDitConfig off = cfg;
  off.resident_blocks = 1;
  RandomWeightSource wr(c.ref(), 78, 0.05f), wd(c.dut(), 78, 0.05f);
  dit::WanDit mr(c.ref(), cfg, wr), md(c.dut(), off, wd);
  if (!md.moves_weights() && c.dut().device() == Device::CUDA) return INFINITY;  // the CUDA residency must engage
  const int64_t B = 1, F = 3, H = 8, W = 10, L = 11;
  const auto hs = c.random(B * cfg.in_channels * F * H * W, -1.5f, 1.5f);
  const auto ctx = c.random(B * L * cfg.text_dim);
  auto inputs = [&](Backend& be, float t) {
    return dit::DitInputs{be.upload(hs.data(), {B, cfg.in_channels, F, H, W}), {t}, false, be.upload(ctx.data(), {B, L, cfg.text_dim}), Tensor()};
  };
  auto skipping = [&](Backend& be, dit::WanDit& m, float t) {
    dit::DitPass p = m.begin(inputs(be, t));
    m.run_blocks(p, 0, 1);
    m.run_blocks(p, 3, 4);
    return m.finish(p);
  };
  std::vector<float> ref, got;
  auto add = [&](const Tensor& r, const Tensor& d) {
    const auto a = c.download_ref(r), b = c.download_dut(d);
    ref.insert(ref.end(), a.begin(), a.end());
    got.insert(got.end(), b.begin(), b.end());
  };
  for (float t : {937.5f, 600.0f, 400.0f}) add(mr.forward(inputs(c.ref(), t)), md.forward(inputs(c.dut(), t)));
  add(skipping(c.ref(), mr, 300.0f), skipping(c.dut(), md, 300.0f));
  add(mr.forward(inputs(c.ref(), 200.0f)), md.forward(inputs(c.dut(), 200.0f)));  // and a whole forward after the skip
  return c.rel_l2(ref, got);
}

vae::WanVaeConfig small_vae(bool wan22) {
  vae::WanVaeConfig c;
  c.base_dim = 16;
  c.decoder_base_dim = wan22 ? 24 : 16;
  c.z_dim = 4;
  c.dim_mult = {1, 2, 2, 2};
  c.num_res_blocks = 1;
  c.temperal_downsample = {false, true, true};
  c.is_residual = wan22;
  c.in_channels = wan22 ? 12 : 3;
  c.out_channels = wan22 ? 12 : 3;
  c.patch_size = wan22 ? 2 : 1;
  c.with_encoder = false;
  return c;
}

double vae_parity(Ctx& c, bool wan22) {
  const vae::WanVaeConfig cfg = small_vae(wan22);
  RandomWeightSource wr(c.ref(), 99, 0.08f), wd(c.dut(), 99, 0.08f);
  vae::WanVae mr(c.ref(), cfg, wr), md(c.dut(), cfg, wd);
  const Shape shape{1, cfg.z_dim, 3, 6, 5};  // three latent frames: the first chunk and two more
  const auto latents = c.random(shape_numel(shape), -2.0f, 2.0f);
  std::vector<float> pr, pd;
  mr.decode(latents.data(), shape, false, [&](vae::DecodedFrames&& f) {
    pr.insert(pr.end(), f.pixels.begin(), f.pixels.end());
  });
  md.decode(latents.data(), shape, false, [&](vae::DecodedFrames&& f) {
    pd.insert(pd.end(), f.pixels.begin(), f.pixels.end());
  });
  if (c.perturb != 0.0f)
    for (auto& x : pd) x *= 1.0f + c.perturb;
  return c.rel_l2(pr, pd);
}

double umt5_parity(Ctx& c) {
  umt5::Umt5Config cfg;
  cfg.vocab_size = 300;
  cfg.d_model = 96;
  cfg.d_kv = 16;
  cfg.num_heads = 4;
  cfg.d_ff = 160;
  cfg.num_layers = 2;
  RandomWeightSource wr(c.ref(), 7, 0.1f), wd(c.dut(), 7, 0.1f);
  umt5::Umt5Encoder mr(c.ref(), cfg, wr), md(c.dut(), cfg, wd);
  const int64_t B = 2, L = 13;
  std::vector<int32_t> ids(B * L), mask(B * L);
  for (int64_t i = 0; i < B * L; ++i) {
    ids[i] = static_cast<int32_t>((i * 37 + 11) % cfg.vocab_size);
    mask[i] = (i / L == 1 && i % L >= 9) ? 0 : 1;  // the second prompt is padded
  }
  Tensor yr = mr.forward(ids, mask, B, L), yd = md.forward(ids, mask, B, L);
  return c.rel_l2(c.download_ref(yr), c.download_dut(yd));
}

double clip_parity(Ctx& c) {
  clip::ClipVisionConfig cfg;
  cfg.hidden_size = 128;  // two heads of 64: a flash-eligible head size
  cfg.intermediate_size = 256;
  cfg.num_heads = 2;
  cfg.num_layers = 3;
  cfg.patch_size = 14;
  cfg.image_size = 56;
  RandomWeightSource wr(c.ref(), 31, 0.05f), wd(c.dut(), 31, 0.05f);
  clip::ClipVisionEncoder mr(c.ref(), cfg, wr), md(c.dut(), cfg, wd);
  Twin px = c.input({2, 3, 56, 56}, -2.0f, 2.0f);
  clip::ClipVisionOutput yr = mr.forward(px.ref, true), yd = md.forward(px.dut, true);
  return std::max(c.rel_l2(c.download_ref(yr.penultimate), c.download_dut(yd.penultimate)),
                  c.rel_l2(c.download_ref(yr.last_hidden_state), c.download_dut(yd.last_hidden_state)));
}

// RIFE's IFNet with small widths on a 64x96 frame pair (one pad to 128x128 included): the whole
// interpolation, its five blocks, warps and the blend.
double rife_parity(Ctx& c) {
  rife::RifeConfig cfg;
  cfg.block_widths = {16, 12, 12, 8, 8};
  RandomWeightSource wr(c.ref(), 425, 0.1f), wd(c.dut(), 425, 0.1f);
  rife::Rife mr(c.ref(), cfg, wr), md(c.dut(), cfg, wd);
  const int64_t H = 70, W = 96;
  const auto f0 = c.random(H * W * 3, 0.0f, 1.0f), f1 = c.random(H * W * 3, 0.0f, 1.0f);
  auto run = [&](rife::Rife& m) {
    rife::Interpolated r = m.interpolate(m.prepare(f0.data(), H, W), m.prepare(f1.data(), H, W), 0.4f);
    return r.frame;
  };
  Tensor yr = run(mr), yd = run(md);
  return c.rel_l2(c.download_ref(yr), c.download_dut(yd));
}

}  // namespace

std::vector<Check> model_checks() {
  return {
      {"model wan-dit t2v (2 layers, dim 128)", kModel, [](Ctx& c) { return dit_parity(c, false, false); }},
      {"model wan-dit i2v image branch", kModel, [](Ctx& c) { return dit_parity(c, true, false); }},
      {"model wan-dit per-token timesteps (ti2v)", kModel, [](Ctx& c) { return dit_parity(c, false, true); }},
      {"model wan-dit t2v with a merged attn1.to_q (three q/k/v products)", kModel,
       [](Ctx& c) { return dit_merged_q_parity(c); }},
      {"model wan-dit t2v over two latent grids in turn (cached RoPE tables)", kModel,
       [](Ctx& c) { return dit_grids_parity(c); }},
      {"model wan-dit offloaded (1 of 4 blocks resident, streamed, parked and back)", kModel,
       [](Ctx& c) { return dit_offload_parity(c, false); }},
      // Identical expected: the residency moves bytes, it computes nothing (a bound above 0 only
      // because the harness requires one).
      {"model wan-dit offloaded == resident on the device (device only)", 1e-7,
       [](Ctx& c) { return dit_offload_parity(c, true); }},
      {"model wan-dit streamed without parking (1 of 4 resident, 3 forwards, a block-skipping pass)", kModel,
       [](Ctx& c) { return dit_stream_parity(c); }},
      {"model umt5 encoder (2 layers, padded batch)", kModel, [](Ctx& c) { return umt5_parity(c); }},
      {"model wan2.1 vae decode (3 latent frames)", kModel, [](Ctx& c) { return vae_parity(c, false); }},
      {"model wan2.2 vae decode (3 latent frames)", kModel, [](Ctx& c) { return vae_parity(c, true); }},
      {"model clip vision encoder (3 layers, 17 tokens)", kModel, [](Ctx& c) { return clip_parity(c); }},
      {"model rife 4.25 interpolation (70x96, padded)", kModel, [](Ctx& c) { return rife_parity(c); }},
  };
}

}  // namespace wan::parity
