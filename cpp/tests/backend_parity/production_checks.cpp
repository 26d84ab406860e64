// The shapes production runs: Wan2.1-1.3B at 480p x 81 frames (32,760 tokens of dim 1536, 12 heads
// of 128, ffn 8960, 512 text tokens) and the Wan2.1 VAE decoder's real channel counts at 480p. Here the
// 128x128 GEMM tile, the 128-wide conv3d tile and attention at real lengths are exercised, which the
// small checks of op_checks.cpp never reach.
//
// The device computes the whole op; the CPU reference computes sampled rows only (sample_rows():
// the first and last 128-row tiles whole, and one row of every other tile at an offset that walks
// through all 128 positions), so that the reference stays within the device check's time budget.
// A row of a linear or of attention depends only on its own input row (and all keys), so a sampled
// row is compared exactly as in a full comparison. Convolutions and models are compared whole, at
// the sizes given by their names (the model sizes are chosen so that the CPU side fits too).
//
// Ctx::reduce divides the token counts (and frame sizes) by N: the same code at small sizes, which
// is what the CPU self-check (--cpu-only --reduce 64, CI) runs.
#include <algorithm>
#include <cmath>
#include <string>

#include "io/weight_source.h"
#include "models/dit/wan_dit.h"
#include "models/vae/wan_vae.h"
#include "tests/backend_parity/harness.h"

namespace wan::parity {

namespace {

// Frame sizes shrink by the square root of the reduction: the pixel count by `reduce`.
int64_t spatial(const Ctx& c, int64_t v) {
  const int64_t f = std::max<int64_t>(1, std::llround(std::sqrt(static_cast<double>(c.reduce))));
  return std::max<int64_t>(2, v / f);
}

// y = act(x w^T + b) at [M, K] x [N, K]: the device whole, the CPU on sampled rows. Weights of
// scale 3/sqrt(K) keep the outputs near unit size, where the GELU is far from linear.
double linear_rows(Ctx& c, int64_t M, int64_t K, int64_t N, bool bias, Activation act) {
  const std::vector<float> x = c.random_fast(M * K);
  Twin w = c.weight({N, K}, 3.0f / std::sqrt(static_cast<float>(K)));
  Twin b = c.input({N});
  Tensor xd = c.dut().upload(x.data(), {M, K});
  Tensor yd = poisoned(c.dut(), {M, N});
  c.dut().linear(xd, w.dut, bias ? &b.dut : nullptr, act, yd);
  const std::vector<int64_t> rows = sample_rows(M);
  const std::vector<float> xs = gather_rows(x, K, rows);
  const int64_t R = static_cast<int64_t>(rows.size());
  Tensor xr = c.ref().upload(xs.data(), {R, K});
  Tensor yr = c.ref().empty({R, N});
  c.ref().linear(xr, w.ref, bias ? &b.ref : nullptr, act, yr);
  return c.rel_l2(c.download_ref(yr), gather_rows(c.download_dut(yd), N, rows));
}

// Self- or cross-attention, [1, Sq, 12*128] queries against [1, Sk, 12*128] keys; sampled query rows
// on the CPU against every key.
double attention_rows(Ctx& c, int64_t Sq, int64_t Sk) {
  const int64_t HD = kHeads * kHeadDim;
  const std::vector<float> q = c.random_fast(Sq * HD, 2.0f), k = c.random_fast(Sk * HD, 2.0f), v = c.random_fast(Sk * HD);
  AttentionParams p{static_cast<int>(kHeads), 1.0f / std::sqrt(static_cast<float>(kHeadDim)), false};
  Tensor qd = c.dut().upload(q.data(), {1, Sq, HD}), kd = c.dut().upload(k.data(), {1, Sk, HD});
  Tensor vd = c.dut().upload(v.data(), {1, Sk, HD});
  Tensor od = poisoned(c.dut(), {1, Sq, HD});
  c.dut().attention(qd, kd, vd, p, od);
  const std::vector<int64_t> rows = sample_rows(Sq);
  const int64_t R = static_cast<int64_t>(rows.size());
  const std::vector<float> qs = gather_rows(q, HD, rows);
  Tensor qr = c.ref().upload(qs.data(), {1, R, HD}), kr = c.ref().upload(k.data(), {1, Sk, HD});
  Tensor vr = c.ref().upload(v.data(), {1, Sk, HD});
  Tensor orr = c.ref().empty({1, R, HD});
  c.ref().attention(qr, kr, vr, p, orr);
  return c.rel_l2(c.download_ref(orr), gather_rows(c.download_dut(od), HD, rows));
}

// The fused GELU epilogue against the same product followed by the GELU kernel, on the device alone
// (both whole): only the order of float operations in the GELU differs.
double gelu_epilogue(Ctx& c, int64_t M) {
  const std::vector<float> x = c.random_fast(M * kDim);
  Twin w = c.weight({kFfn, kDim}, 3.0f / std::sqrt(static_cast<float>(kDim)));
  Twin b = c.input({kFfn});
  Tensor xd = c.dut().upload(x.data(), {M, kDim});
  Tensor fused = poisoned(c.dut(), {M, kFfn}), plain = poisoned(c.dut(), {M, kFfn});
  c.dut().linear(xd, w.dut, &b.dut, Activation::GeluTanh, fused);
  c.dut().linear(xd, w.dut, &b.dut, Activation::None, plain);
  c.dut().activation(plain, Activation::GeluTanh, plain);
  return c.rel_l2(c.download_dut(plain), c.download_dut(fused));
}

struct ConvCase {
  const char* what;
  int64_t T, P, H, W, Cin, Cout;
  int kt, kh, kw, pad_front;
};

// A VAE decoder convolution at its real channel count and frame size, compared whole.
double conv_whole(Ctx& c, const ConvCase& k) {
  Conv3dParams p;
  p.kt = k.kt;
  p.kh = k.kh;
  p.kw = k.kw;
  p.pad_top = p.pad_bottom = k.kh / 2;
  p.pad_left = p.pad_right = k.kw / 2;
  p.pad_front = k.pad_front;
  const int64_t H = spatial(c, k.H), W = spatial(c, k.W);
  const int64_t K = int64_t{p.kt} * p.kh * p.kw * k.Cin;
  Twin x = c.from(c.random_fast(k.T * H * W * k.Cin), {k.T, H, W, k.Cin});
  Twin past = k.P ? c.from(c.random_fast(k.P * H * W * k.Cin), {k.P, H, W, k.Cin}) : Twin{};
  Twin w = c.weight({k.Cout, K}, 3.0f / std::sqrt(static_cast<float>(K))), b = c.input({k.Cout});
  const int64_t To = k.pad_front + k.P + k.T - k.kt + 1;
  Tensor yr = c.ref().empty({To, H, W, k.Cout});
  Tensor yd = poisoned(c.dut(), {To, H, W, k.Cout});
  c.ref().conv3d(x.ref, k.P ? &past.ref : nullptr, w.ref, &b.ref, p, yr);
  c.dut().conv3d(x.dut, k.P ? &past.dut : nullptr, w.dut, &b.dut, p, yd);
  return c.rel_l2(c.download_ref(yr), c.download_dut(yd));
}

// One block of the 1.3B configuration (with its patch embedding, time and text embeddings and head)
// at 480p: latent 60x104 per frame, `frames` latent frames, 512 text tokens of 4096.
double dit_block_480p(Ctx& c, int64_t frames) {
  dit::WanDitConfig cfg;  // Wan2.1-T2V-1.3B
  cfg.num_layers = 1;
  RandomWeightSource wr(c.ref(), 4242, 0.02f), wd(c.dut(), 4242, 0.02f);
  dit::WanDit mr(c.ref(), cfg, wr), md(c.dut(), cfg, wd);
  const int64_t H = spatial(c, 60) / 2 * 2, W = spatial(c, 104) / 2 * 2;
  Twin hs = c.from(c.random_fast(cfg.in_channels * frames * H * W), {1, cfg.in_channels, frames, H, W});
  Twin ctx = c.from(c.random_fast(kText * cfg.text_dim), {1, kText, cfg.text_dim});
  const std::vector<float> t{937.0f};
  dit::DitInputs ir{hs.ref, t, false, ctx.ref, Tensor()}, id{hs.dut, t, false, ctx.dut, Tensor()};
  Tensor yr = mr.forward(ir), yd = md.forward(id);
  return c.rel_l2(c.download_ref(yr), c.download_dut(yd));
}

// The Wan2.1 VAE decoder (base 96, dims 384/384/192/96) on the first latent frame at 480p: one
// 480x832 frame through every stage at its real channel count.
double vae_decode_480p(Ctx& c) {
  vae::WanVaeConfig cfg;
  cfg.with_encoder = false;
  RandomWeightSource wr(c.ref(), 99, 0.02f), wd(c.dut(), 99, 0.02f);
  vae::WanVae mr(c.ref(), cfg, wr), md(c.dut(), cfg, wd);
  const Shape shape{1, cfg.z_dim, 1, spatial(c, 60), spatial(c, 104)};
  const auto latents = c.random_fast(shape_numel(shape), 2.0f);
  std::vector<float> pr, pd;
  mr.decode(latents.data(), shape, false, [&](vae::DecodedFrames&& f) { pr.insert(pr.end(), f.pixels.begin(), f.pixels.end()); });
  md.decode(latents.data(), shape, false, [&](vae::DecodedFrames&& f) { pd.insert(pd.end(), f.pixels.begin(), f.pixels.end()); });
  if (c.perturb != 0.0f)
    for (auto& x : pd) x *= 1.0f + c.perturb;
  return c.rel_l2(pr, pd);
}

// Latent frames of the production block check: attention's CPU cost grows with their square
// (4,680 tokens: about 0.55 TFLOP for the CPU side, see bench/cuda/README.md).
constexpr int64_t kBlockFrames = 3;

}  // namespace

std::vector<int64_t> sample_rows(int64_t M) {
  std::vector<int64_t> rows;
  const int64_t tiles = (M + 127) / 128;
  for (int64_t r = 0; r < std::min<int64_t>(M, 128); ++r) rows.push_back(r);
  for (int64_t t = 1; t + 1 < tiles; ++t) rows.push_back(t * 128 + (t * 37) % 128);
  for (int64_t r = std::max<int64_t>(128, (tiles - 1) * 128); r < M; ++r) rows.push_back(r);
  return rows;
}

std::vector<Check> production_op_checks() {
  std::vector<Check> v;
  // The transformer's linears at 32,760 tokens (M x K x N, as op_checks names them).
  struct Lin { int64_t K, N; bool bias; Activation act; const char* what; };
  const Lin lins[] = {
      {kDim, kDim, true, Activation::None, "q/k/v/o"},
      {kDim, kFfn, true, Activation::None, "ffn in, no epilogue"},
      {kDim, kFfn, true, Activation::GeluTanh, "ffn in, gelu_tanh epilogue"},
      {kFfn, kDim, true, Activation::None, "ffn out"},
      {kDim, kDim, false, Activation::None, "no bias"},
  };
  for (const Lin& l : lins) {
    v.push_back({"linear production " + dims({kTokens, l.K, l.N}) + " " + l.what + " (sampled rows)", kBf16,
                 [l](Ctx& c) { return linear_rows(c, production_tokens(c), l.K, l.N, l.bias, l.act); }});
  }
  v.push_back({"linear production gelu epilogue == separate gelu " + dims({kTokens, kDim, kFfn}) + " (device only)", kF32,
               [](Ctx& c) { return gelu_epilogue(c, production_tokens(c)); }});
  v.push_back({"attention production self " + dims({1, kTokens, kTokens}) + " h12 d128 (sampled rows)", kAttentionBf16,
               [](Ctx& c) { return attention_rows(c, production_tokens(c), production_tokens(c)); }});
  v.push_back({"attention production cross " + dims({1, kTokens, kText}) + " h12 d128 (sampled rows)", kAttentionBf16,
               [](Ctx& c) { return attention_rows(c, production_tokens(c), kText); }});
  // The VAE decoder's convolutions at 480p (Cout > 64: the 128-wide N tile, several N tiles at 384,
  // a partial one at 192 and 96; the RGB head on the 32-wide tile).
  const ConvCase convs[] = {
      {"causal 3x3x3 384->384 60x104, 2 cached frames", 1, 2, 60, 104, 384, 384, 3, 3, 3, 0},
      {"causal 3x3x3 192->192 240x416, first chunk", 1, 0, 240, 416, 192, 192, 3, 3, 3, 2},
      {"causal 3x3x3 96->96 480x832, first chunk", 1, 0, 480, 832, 96, 96, 3, 3, 3, 2},
      {"2-D 3x3 384->192 120x208 (upsample conv)", 1, 0, 120, 208, 384, 192, 1, 3, 3, 0},
      {"causal 3x3x3 96->3 480x832 (RGB head), first chunk", 1, 0, 480, 832, 96, 3, 3, 3, 3, 2},
  };
  for (const ConvCase& k : convs)
    v.push_back({std::string("conv3d production ") + k.what, kBf16, [k](Ctx& c) { return conv_whole(c, k); }});
  add_fused_production_checks(v);
  return v;
}

std::vector<Check> production_model_checks() {
  return {
      {"model production wan-dit 1.3B config, 1 block, 480p, " + std::to_string(kBlockFrames) + " latent frames (" +
           std::to_string(kBlockFrames * 30 * 52) + " tokens, 512 text)",
       kModel, [](Ctx& c) { return dit_block_480p(c, kBlockFrames); }},
      {"model production wan2.1 vae decode 480p (real channels, first latent frame)", kModel,
       [](Ctx& c) { return vae_decode_480p(c); }},
  };
}

}  // namespace wan::parity
