// Every op of cpp/ops/backend.h on random inputs, several shapes each, odd sizes included.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "tests/backend_parity/harness.h"

namespace wan::parity {

namespace {

const char* act_name(Activation a) {
  switch (a) {
    case Activation::None: return "none";
    case Activation::GeluTanh: return "gelu_tanh";
    case Activation::GeluErf: return "gelu_erf";
    case Activation::Silu: return "silu";
  }
  return "?";
}

// Output tensors start from the same random values on both sides: an op that fails to write part
// of its output, or accumulates where it should not, shows.
Twin out(Ctx& c, const Shape& s) { return c.input(s); }

void add_linear(std::vector<Check>& v) {
  struct Case { int64_t M, K, N; bool bias; Activation act; bool f32_weight; };
  const Case cases[] = {
      {1, 8, 8, true, Activation::None, false},        {37, 61, 29, true, Activation::None, false},
      {130, 256, 200, false, Activation::None, false}, {257, 320, 96, true, Activation::GeluTanh, false},
      {64, 128, 384, true, Activation::GeluErf, false}, {3, 256, 72, true, Activation::Silu, false},
      {300, 96, 130, true, Activation::None, true},     {513, 1536, 264, true, Activation::GeluTanh, false},
  };
  for (const Case& k : cases) {
    std::string name = "linear " + dims({k.M, k.K, k.N}) + (k.bias ? " bias" : "") + " " + act_name(k.act) +
                       (k.f32_weight ? " f32-weight" : "");
    v.push_back({name, kBf16, [k](Ctx& c) {
                   Twin x = c.input({k.M, k.K});
                   // A float32 weight is what a non-matrix checkpoint tensor viewed as one becomes
                   // (the patch embedding, the VAE's 1x1 convs): the backend repacks it per call.
                   Twin w = k.f32_weight ? c.input({k.N, k.K}, -0.5f, 0.5f) : c.weight({k.N, k.K});
                   Twin b = c.input({k.N});
                   Twin y = out(c, {k.M, k.N});
                   c.ref().linear(x.ref, w.ref, k.bias ? &b.ref : nullptr, k.act, y.ref);
                   c.dut().linear(x.dut, w.dut, k.bias ? &b.dut : nullptr, k.act, y.dut);
                   return c.rel_l2(y);
                 }});
  }
  // The same product with the GELU fused into the GEMM's epilogue and applied afterwards on the
  // device under test: the epilogue's GELU must be the tanh form (cuBLASLt's fused GELU).
  v.push_back({"linear gelu epilogue == separate gelu (device only)", kF32, [](Ctx& c) {
                 Twin x = c.input({200, 256}), w = c.weight({320, 256}), b = c.input({320});
                 Twin fused = out(c, {200, 320}), plain = out(c, {200, 320});
                 c.dut().linear(x.dut, w.dut, &b.dut, Activation::GeluTanh, fused.dut);
                 c.dut().linear(x.dut, w.dut, &b.dut, Activation::None, plain.dut);
                 c.dut().activation(plain.dut, Activation::GeluTanh, plain.dut);
                 return c.rel_l2(c.download_dut(plain.dut), c.download_dut(fused.dut));
               }});
}

void add_norms(std::vector<Check>& v) {
  for (auto [rows, n] : {std::pair<int64_t, int64_t>{1, 7}, {33, 96}, {130, 1536}, {9, 5120}}) {
    v.push_back({"layer_norm " + dims({rows, n}) + " affine", kF32, [rows, n](Ctx& c) {
                   Twin x = c.input({rows, n}, -3.0f, 5.0f), g = c.input({n}), b = c.input({n});
                   Twin y = out(c, {rows, n});
                   c.ref().layer_norm(x.ref, &g.ref, &b.ref, 1e-6f, y.ref);
                   c.dut().layer_norm(x.dut, &g.dut, &b.dut, 1e-6f, y.dut);
                   return c.rel_l2(y);
                 }});
    v.push_back({"layer_norm " + dims({rows, n}) + " plain in-place", kF32, [rows, n](Ctx& c) {
                   Twin x = c.input({rows, n}, -3.0f, 5.0f);
                   c.ref().layer_norm(x.ref, nullptr, nullptr, 1e-5f, x.ref);
                   c.dut().layer_norm(x.dut, nullptr, nullptr, 1e-5f, x.dut);
                   return c.rel_l2(x);
                 }});
    v.push_back({"layer_norm_modulated " + dims({rows, n}), kF32, [rows, n](Ctx& c) {
                   Twin x = c.input({rows, n}, -2.0f, 2.0f), table = c.input({3, 6, n});
                   std::vector<int32_t> row_of(static_cast<size_t>(rows));
                   for (int64_t r = 0; r < rows; ++r) row_of[r] = static_cast<int32_t>((r * 7) % 3);
                   Twin ro = c.ints(row_of, {rows});
                   Twin y = out(c, {rows, n});
                   c.ref().layer_norm_modulated(x.ref, Modulation{&table.ref, &ro.ref}, 3, 4, 1e-6f, y.ref);
                   c.dut().layer_norm_modulated(x.dut, Modulation{&table.dut, &ro.dut}, 3, 4, 1e-6f, y.dut);
                   return c.rel_l2(y);
                 }});
    v.push_back({"rms_norm " + dims({rows, n}), kF32, [rows, n](Ctx& c) {
                   Twin x = c.input({rows, n}, -2.0f, 3.0f), w = c.input({n});
                   c.ref().rms_norm(x.ref, w.ref, 1e-6f, x.ref);
                   c.dut().rms_norm(x.dut, w.dut, 1e-6f, x.dut);
                   return c.rel_l2(x);
                 }});
  }
  for (auto [rows, ch, act] : {std::tuple<int64_t, int64_t, Activation>{1, 3, Activation::None},
                               {517, 96, Activation::Silu}, {64, 384, Activation::Silu}, {7, 12, Activation::None}}) {
    v.push_back({"channel_rms_norm " + dims({rows, ch}) + " " + act_name(act), kF32, [rows, ch, act](Ctx& c) {
                   Twin x = c.input({rows, ch}, -2.0f, 2.0f), g = c.input({ch});
                   Twin y = out(c, {rows, ch});
                   c.ref().channel_rms_norm(x.ref, g.ref, act, y.ref);
                   c.dut().channel_rms_norm(x.dut, g.dut, act, y.dut);
                   return c.rel_l2(y);
                 }});
  }
}

void add_elementwise(std::vector<Check>& v) {
  for (auto [rows, n] : {std::pair<int64_t, int64_t>{5, 3}, {130, 1536}}) {
    v.push_back({"add_gated " + dims({rows, n}) + " modulated", kF32, [rows, n](Ctx& c) {
                   Twin x = c.input({rows, n}), y = c.input({rows, n}), table = c.input({2, 6, n});
                   std::vector<int32_t> row_of(static_cast<size_t>(rows));
                   for (int64_t r = 0; r < rows; ++r) row_of[r] = static_cast<int32_t>(r % 2);
                   Twin ro = c.ints(row_of, {rows});
                   Modulation mr{&table.ref, &ro.ref}, md{&table.dut, &ro.dut};
                   c.ref().add_gated(x.ref, y.ref, &mr, 5);
                   c.dut().add_gated(x.dut, y.dut, &md, 5);
                   return c.rel_l2(x);
                 }});
    v.push_back({"add_gated " + dims({rows, n}) + " plain", kF32, [rows, n](Ctx& c) {
                   Twin x = c.input({rows, n}), y = c.input({rows, n});
                   c.ref().add_gated(x.ref, y.ref, nullptr, 0);
                   c.dut().add_gated(x.dut, y.dut, nullptr, 0);
                   return c.rel_l2(x);
                 }});
    v.push_back({"multiply " + dims({rows, n}), kF32, [rows, n](Ctx& c) {
                   Twin x = c.input({rows, n}), y = c.input({rows, n});
                   c.ref().multiply(x.ref, y.ref);
                   c.dut().multiply(x.dut, y.dut);
                   return c.rel_l2(x);
                 }});
  }
  for (Activation a : {Activation::GeluTanh, Activation::GeluErf, Activation::Silu, Activation::None}) {
    v.push_back({std::string("activation ") + act_name(a) + " 1000x37", kF32, [a](Ctx& c) {
                   Twin x = c.input({1000, 37}, -8.0f, 8.0f), y = out(c, {1000, 37});
                   c.ref().activation(x.ref, a, y.ref);
                   c.dut().activation(x.dut, a, y.dut);
                   return c.rel_l2(y);
                 }});
  }
  for (bool chunked : {true, false}) {
    v.push_back({std::string("modulation_rows 3x6x40 ") + (chunked ? "chunked" : "shared"), kF32, [chunked](Ctx& c) {
                   Twin table = c.input({6, 40}), rows = chunked ? c.input({3, 6 * 40}) : c.input({3, 40});
                   Twin o = out(c, {3, 6, 40});
                   c.ref().modulation_rows(table.ref, rows.ref, o.ref);
                   c.dut().modulation_rows(table.dut, rows.dut, o.dut);
                   return c.rel_l2(o);
                 }});
  }
  v.push_back({"add_positional 2x13x24", kF32, [](Ctx& c) {
                 Twin x = c.input({2, 13, 24}), pos = c.input({1, 13, 24});
                 c.ref().add_positional(x.ref, pos.ref);
                 c.dut().add_positional(x.dut, pos.dut);
                 return c.rel_l2(x);
               }});
  for (int terms : {3, 11}) {
    v.push_back({"linear_combination " + std::to_string(terms) + " terms, out aliases a term", kF32, [terms](Ctx& c) {
                   std::vector<Twin> t;
                   for (int i = 0; i < terms; ++i) t.push_back(c.input({1001}));
                   std::vector<std::pair<float, const Tensor*>> tr, td;
                   for (int i = 0; i < terms; ++i) {
                     const float coeff = 0.37f * static_cast<float>(i + 1) - 1.1f;
                     tr.emplace_back(coeff, &t[i].ref);
                     td.emplace_back(coeff, &t[i].dut);
                   }
                   c.ref().linear_combination(t[terms - 1].ref, tr);
                   c.dut().linear_combination(t[terms - 1].dut, td);
                   return c.rel_l2(t[terms - 1]);
                 }});
  }
}

void add_embeddings(std::vector<Check>& v) {
  for (bool as_weight : {false, true}) {
    v.push_back({std::string("embedding 50x24 table ") + (as_weight ? "(weight: bf16 on a device)" : "f32"),
                 as_weight ? kBf16 : kExact, [as_weight](Ctx& c) {
                   Twin table = as_weight ? c.weight({50, 24}) : c.input({50, 24});
                   std::vector<int32_t> ids{0, 49, 3, 3, 17, 25, 8};
                   Twin id = c.ints(ids, {7});
                   Twin o = out(c, {7, 24});
                   c.ref().embedding(table.ref, id.ref, o.ref);
                   c.dut().embedding(table.dut, id.dut, o.dut);
                   return c.rel_l2(o);
                 }});
  }
  v.push_back({"timestep_embedding 4x256", 1e-4, [](Ctx& c) {
                 Twin t = c.from({999.0f, 0.0f, 1.5f, 500.25f}, {4});
                 Twin y = out(c, {4, 256});
                 c.ref().timestep_embedding(t.ref, y.ref);
                 c.dut().timestep_embedding(t.dut, y.dut);
                 return c.rel_l2(y);
               }});
  for (auto [B, S, H, D] : {std::tuple<int64_t, int64_t, int, int64_t>{1, 5, 1, 2}, {2, 48, 12, 128}, {1, 7, 3, 10}}) {
    v.push_back({"rope " + dims({B, S, H, D}), kF32, [B, S, H, D](Ctx& c) {
                   Twin x = c.input({B, S, H * D}), cs = c.input({S, D / 2}), sn = c.input({S, D / 2});
                   c.ref().rope(x.ref, H, cs.ref, sn.ref);
                   c.dut().rope(x.dut, H, cs.dut, sn.dut);
                   return c.rel_l2(x);
                 }});
  }
  for (auto [pt, ph, pw] : {std::tuple<int, int, int>{1, 2, 2}, {2, 1, 3}}) {
    const std::string pn = dims({pt, ph, pw});
    v.push_back({"patchify 2x5x4x6x6 patch " + pn, kExact, [pt, ph, pw](Ctx& c) {
                   Twin x = c.input({2, 5, 4, 6, 6});
                   const int64_t S = (4 / pt) * (6 / ph) * (6 / pw), P = int64_t{pt} * ph * pw;
                   Twin y = out(c, {2, S, 5 * P});
                   c.ref().patchify(x.ref, {pt, ph, pw}, y.ref);
                   c.dut().patchify(x.dut, {pt, ph, pw}, y.dut);
                   return c.rel_l2(y);
                 }});
    v.push_back({"unpatchify 2x5x4x6x6 patch " + pn, kExact, [pt, ph, pw](Ctx& c) {
                   const int64_t S = (4 / pt) * (6 / ph) * (6 / pw), P = int64_t{pt} * ph * pw;
                   Twin y = c.input({2, S, 5 * P});
                   Twin o = out(c, {2, 5, 4, 6, 6});
                   c.ref().unpatchify(y.ref, {pt, ph, pw}, o.ref);
                   c.dut().unpatchify(y.dut, {pt, ph, pw}, o.dut);
                   return c.rel_l2(o);
                 }});
  }
}

void add_memory(std::vector<Check>& v) {
  v.push_back({"upload/download 1x12345", kExact, [](Ctx& c) { return c.rel_l2(c.input({12345})); }});
  v.push_back({"copy 3x1001", kExact, [](Ctx& c) {
                 Twin a = c.input({3, 1001}), b = out(c, {3, 1001});
                 c.ref().copy(a.ref, b.ref);
                 c.dut().copy(a.dut, b.dut);
                 return c.rel_l2(b);
               }});
}

void add_attention(std::vector<Check>& v) {
  struct Case {
    int64_t B, Sq, Sk;
    int H;
    int64_t D;
    bool mask, accumulate, bias;
    float scale;
  };
  const Case cases[] = {
      {1, 1, 1, 1, 8, false, false, false, 0.35f},     {2, 37, 53, 3, 24, false, false, false, 0.2f},
      {1, 70, 70, 1, 384, false, false, false, 0.05f}, {2, 33, 19, 2, 20, true, false, false, 0.22f},
      {1, 40, 40, 4, 16, true, false, true, 1.0f},     {2, 29, 31, 3, 12, false, true, false, 0.3f},
      // flash-eligible head sizes (multiples of 8 up to 128, no relative bias)
      {2, 130, 77, 2, 64, false, false, false, 0.125f}, {1, 200, 200, 2, 128, false, false, false, 0.0884f},
      {2, 65, 90, 3, 128, true, false, false, 0.0884f},  {1, 100, 60, 2, 64, false, true, false, 0.125f},
  };
  for (const Case& k : cases) {
    const bool flash_shape = !k.bias && k.D % 8 == 0 && k.D <= 128;
    std::string name = "attention " + dims({k.B, k.Sq, k.Sk}) + " h" + std::to_string(k.H) + " d" + std::to_string(k.D) +
                       (k.mask ? " mask" : "") + (k.accumulate ? " accumulate" : "") + (k.bias ? " relative-bias" : "") +
                       (flash_shape ? " (flash-eligible)" : "");
    v.push_back({name, flash_shape || k.bias ? kAttentionBf16 : kF32, [k](Ctx& c) {
                   const int64_t HD = k.H * k.D;
                   Twin q = c.input({k.B, k.Sq, HD}, -2.0f, 2.0f), kk = c.input({k.B, k.Sk, HD}, -2.0f, 2.0f);
                   Twin vv = c.input({k.B, k.Sk, HD});
                   Twin o = out(c, {k.B, k.Sq, HD});
                   AttentionParams pr{k.H, k.scale, k.accumulate}, pd = pr;
                   Twin mask, table, buckets;
                   if (k.mask) {
                     std::vector<int32_t> m(static_cast<size_t>(k.B * k.Sk));
                     for (size_t i = 0; i < m.size(); ++i) m[i] = (i % 5 == 3) ? 0 : 1;
                     mask = c.ints(m, {k.B, k.Sk});
                     pr.key_mask = &mask.ref;
                     pd.key_mask = &mask.dut;
                   }
                   if (k.bias) {
                     table = c.weight({32, k.H}, 2.0f);  // a weight: bf16 on the device
                     std::vector<int32_t> bk(static_cast<size_t>(k.Sq * k.Sk));
                     for (int64_t i = 0; i < k.Sq; ++i)
                       for (int64_t j = 0; j < k.Sk; ++j) bk[i * k.Sk + j] = static_cast<int32_t>((j - i + 64) % 32);
                     buckets = c.ints(bk, {k.Sq, k.Sk});
                     pr.bias = {&table.ref, &buckets.ref};
                     pd.bias = {&table.dut, &buckets.dut};
                   }
                   c.ref().attention(q.ref, kk.ref, vv.ref, pr, o.ref);
                   c.dut().attention(q.dut, kk.dut, vv.dut, pd, o.dut);
                   return c.rel_l2(o);
                 }});
  }
}

void add_video(std::vector<Check>& v) {
  struct Case {
    int64_t T, P, H, W, Cin, Cout;
    Conv3dParams p;
    bool bias;
    const char* what;
  };
  auto conv = [](int kt, int kh, int kw, int pad, int pad_front, int st, int ss) {
    Conv3dParams p;
    p.kt = kt;
    p.kh = kh;
    p.kw = kw;
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = pad;
    p.pad_front = pad_front;
    p.stride_t = st;
    p.stride_h = p.stride_w = ss;
    return p;
  };
  Conv3dParams acc = conv(1, 1, 1, 0, 0, 1, 1);
  acc.accumulate = true;
  Conv3dParams down = conv(1, 3, 3, 0, 0, 1, 2);
  down.pad_right = down.pad_bottom = 1;  // the reference's (0, 1, 0, 1) zero pad before a stride-2 conv
  const Case cases[] = {
      {2, 0, 9, 11, 3, 16, conv(3, 3, 3, 1, 2, 1, 1), true, "causal 3x3x3, first chunk (2 zero frames)"},
      {1, 2, 8, 8, 32, 24, conv(3, 3, 3, 1, 0, 1, 1), true, "causal 3x3x3 with 2 cached frames"},
      {3, 0, 6, 7, 24, 40, conv(1, 1, 1, 0, 0, 1, 1), true, "1x1x1 shortcut"},
      {2, 0, 5, 6, 16, 16, acc, false, "1x1x1 accumulate"},
      {1, 0, 10, 12, 16, 8, down, true, "2-D 3x3 stride 2 (downsample)"},
      {3, 1, 4, 4, 16, 16, conv(3, 1, 1, 0, 0, 2, 1), true, "time conv 3x1x1 stride 2"},
      {2, 0, 6, 6, 13, 5, conv(1, 3, 3, 1, 0, 1, 1), false, "odd channels 13 -> 5"},
      // The second decode chunk after a 1-frame first chunk: 1 cached frame and 1 zero frame; 130
      // outputs take the 128-wide tile twice (once partly).
      {1, 1, 6, 7, 16, 130, conv(3, 3, 3, 1, 1, 1, 1), true, "causal 3x3x3, 1 cached and 1 zero frame, 16 -> 130"},
  };
  for (const Case& k : cases) {
    v.push_back({std::string("conv3d ") + k.what, kBf16, [k](Ctx& c) {
                   const Conv3dParams& p = k.p;
                   Twin x = c.input({k.T, k.H, k.W, k.Cin});
                   Twin past = k.P ? c.input({k.P, k.H, k.W, k.Cin}) : Twin{};
                   const int64_t K = int64_t{p.kt} * p.kh * p.kw * k.Cin;
                   Twin w = c.weight({k.Cout, K}, 0.3f), b = c.input({k.Cout});
                   const int64_t To = (p.pad_front + k.P + k.T - p.kt) / p.stride_t + 1;
                   const int64_t Ho = (k.H + p.pad_top + p.pad_bottom - p.kh) / p.stride_h + 1;
                   const int64_t Wo = (k.W + p.pad_left + p.pad_right - p.kw) / p.stride_w + 1;
                   Twin y = out(c, {To, Ho, Wo, k.Cout});
                   c.ref().conv3d(x.ref, k.P ? &past.ref : nullptr, w.ref, k.bias ? &b.ref : nullptr, p, y.ref);
                   c.dut().conv3d(x.dut, k.P ? &past.dut : nullptr, w.dut, k.bias ? &b.dut : nullptr, p, y.dut);
                   return c.rel_l2(y);
                 }});
  }
  // The VAE keeps its conv weights as float32 Dense tensors (converted to bf16 per call on CUDA), not
  // the bf16 Matrix weights of the cases above.
  v.push_back({"conv3d causal 3x3x3, float32 dense weight as the VAE holds it", kBf16, [conv](Ctx& c) {
                 const Conv3dParams p = conv(3, 3, 3, 1, 2, 1, 1);
                 const int64_t T = 2, H = 7, W = 9, Cin = 24, Cout = 40, K = 27 * Cin;
                 Twin x = c.input({T, H, W, Cin}), w = c.input({Cout, K}, -0.3f, 0.3f), b = c.input({Cout});
                 Twin y = out(c, {T, H, W, Cout});
                 c.ref().conv3d(x.ref, nullptr, w.ref, &b.ref, p, y.ref);
                 c.dut().conv3d(x.dut, nullptr, w.dut, &b.dut, p, y.dut);
                 return c.rel_l2(y);
               }});
  v.push_back({"upsample_nearest_2x 1x3x5x8 (vectorised channels)", kExact, [](Ctx& c) {
                 Twin x = c.input({1, 3, 5, 8}), y = out(c, {1, 6, 10, 8});
                 c.ref().upsample_nearest_2x(x.ref, y.ref);
                 c.dut().upsample_nearest_2x(x.dut, y.dut);
                 return c.rel_l2(y);
               }});
  v.push_back({"upsample_nearest_2x 2x5x7x6", kExact, [](Ctx& c) {
                 Twin x = c.input({2, 5, 7, 6}), y = out(c, {2, 10, 14, 6});
                 c.ref().upsample_nearest_2x(x.ref, y.ref);
                 c.dut().upsample_nearest_2x(x.dut, y.dut);
                 return c.rel_l2(y);
               }});
  // (0 3 1 2 4) keeps the last dimension last: the vectorised copy.
  for (auto perm : {std::vector<int>{0, 2, 1}, std::vector<int>{3, 0, 4, 1, 2}, std::vector<int>{0, 3, 1, 2, 4}}) {
    std::string pn;
    for (int p : perm) pn += std::to_string(p);
    v.push_back({"permute rank " + std::to_string(perm.size()) + " (" + pn + ")", kExact, [perm](Ctx& c) {
                   const Shape s = perm.size() == 3 ? Shape{7, 5, 9} : perm[4] == 4 ? Shape{3, 4, 5, 2, 8} : Shape{2, 3, 4, 5, 6};
                   Twin x = c.input(s);
                   PermuteParams p;
                   p.rank = static_cast<int>(perm.size());
                   Shape os;
                   for (int i = 0; i < p.rank; ++i) {
                     p.perm[i] = perm[i];
                     os.push_back(s[perm[i]]);
                   }
                   Twin y = out(c, os);
                   c.ref().permute(x.ref, p, y.ref);
                   c.dut().permute(x.dut, p, y.dut);
                   return c.rel_l2(y);
                 }});
  }
  for (bool accumulate : {false, true}) {
    v.push_back({std::string("avg_down_3d 3x4x6x8 ft2 fs2 -> 16") + (accumulate ? " accumulate" : ""), kF32,
                 [accumulate](Ctx& c) {
                   Twin x = c.input({3, 4, 6, 8}), y = out(c, {2, 2, 3, 16});
                   SpaceTimeParams p;
                   p.factor_t = 2;
                   p.factor_s = 2;
                   p.accumulate = accumulate;
                   c.ref().avg_down_3d(x.ref, p, y.ref);
                   c.dut().avg_down_3d(x.dut, p, y.dut);
                   return c.rel_l2(y);
                 }});
    v.push_back({std::string("dup_up_3d 2x3x4x16 ft2 fs2 -> 8 drop 1") + (accumulate ? " accumulate" : ""), kF32,
                 [accumulate](Ctx& c) {
                   Twin x = c.input({2, 3, 4, 16}), y = out(c, {3, 6, 8, 8});
                   SpaceTimeParams p;
                   p.factor_t = 2;
                   p.factor_s = 2;
                   p.drop_frames = 1;
                   p.accumulate = accumulate;
                   c.ref().dup_up_3d(x.ref, p, y.ref);
                   c.dut().dup_up_3d(x.dut, p, y.dut);
                   return c.rel_l2(y);
                 }});
  }
}

// The step caches' reduction and the LoRA merge into stored weights (bf16 matrices on CUDA).
void add_cache_and_lora(std::vector<Check>& v) {
  for (int64_t n : {int64_t{7}, int64_t{130 * 1536 + 3}}) {
    v.push_back({"mean_abs_difference " + std::to_string(n), kF32, [n](Ctx& c) {
                   Twin a = c.input({n}), b = c.input({n});
                   const double ref = c.ref().mean_abs_difference(a.ref, &b.ref);
                   const double dut = c.dut().mean_abs_difference(a.dut, &b.dut);
                   const double ref1 = c.ref().mean_abs_difference(a.ref, nullptr);
                   const double dut1 = c.dut().mean_abs_difference(a.dut, nullptr);
                   return std::max(std::fabs(dut - ref) / ref, std::fabs(dut1 - ref1) / ref1);
                 }});
  }
  // The merged weight is read back through a product.
  v.push_back({"add_to_weight 96x200 then linear", kBf16, [](Ctx& c) {
                 Twin base = c.weight({96, 200}), delta = c.input({96, 200}, -0.05f, 0.05f);
                 Twin w{c.ref().mergeable_copy(base.ref), c.dut().mergeable_copy(base.dut), base.shape};
                 c.ref().add_to_weight(w.ref, delta.ref, 0.7f);
                 c.dut().add_to_weight(w.dut, delta.dut, 0.7f);
                 Twin x = c.input({33, 200}), y = out(c, {33, 96});
                 c.ref().linear(x.ref, w.ref, nullptr, Activation::None, y.ref);
                 c.dut().linear(x.dut, w.dut, nullptr, Activation::None, y.dut);
                 return c.rel_l2(y);
               }});
}

// Frame interpolation's image ops (RIFE), channels-last [N, H, W, C], odd sizes included. The
// CUDA kernels compute in float32, so every bound is a float32 one.
void add_image(std::vector<Check>& v) {
  struct TCase { int64_t N, H, W, Cin, Cout; int k, s, pad; bool bias; };
  for (const TCase& k : {TCase{1, 5, 7, 16, 52, 4, 2, 1, true}, TCase{2, 3, 4, 13, 4, 4, 2, 1, false},
                         TCase{1, 6, 5, 8, 6, 3, 2, 0, true}, TCase{1, 4, 4, 5, 3, 3, 1, 1, true}}) {
    v.push_back({"conv_transpose2d " + dims({k.N, k.H, k.W, k.Cin}) + " -> " + std::to_string(k.Cout) + " k" +
                     std::to_string(k.k) + " s" + std::to_string(k.s) + " p" + std::to_string(k.pad),
                 kF32, [k](Ctx& c) {
                   ConvTranspose2dParams p;
                   p.kh = p.kw = k.k;
                   p.stride = k.s;
                   p.padding = k.pad;
                   const int64_t Ho = (k.H - 1) * k.s - 2 * k.pad + k.k, Wo = (k.W - 1) * k.s - 2 * k.pad + k.k;
                   Twin x = c.input({k.N, k.H, k.W, k.Cin}), w = c.input({k.Cout, int64_t{k.k} * k.k * k.Cin}, -0.3f, 0.3f);
                   Twin b = c.input({k.Cout}), y = out(c, {k.N, Ho, Wo, k.Cout});
                   c.ref().conv_transpose2d(x.ref, w.ref, k.bias ? &b.ref : nullptr, p, y.ref);
                   c.dut().conv_transpose2d(x.dut, w.dut, k.bias ? &b.dut : nullptr, p, y.dut);
                   return c.rel_l2(y);
                 }});
  }
  struct RCase { int64_t N, H, W, C, Ho, Wo; float mul; const char* what; };
  for (const RCase& k : {RCase{1, 64, 48, 5, 4, 3, 1.0f, "down 16"}, RCase{2, 3, 5, 13, 24, 40, 1.0f, "up 8"},
                         RCase{1, 16, 16, 4, 8, 8, 0.5f, "down 2 * 0.5 (a flow)"}, RCase{1, 7, 9, 3, 7, 9, 1.0f, "same size"}}) {
    v.push_back({std::string("resize_bilinear ") + k.what + " " + dims({k.N, k.H, k.W, k.C}) + " -> " + dims({k.Ho, k.Wo}),
                 kF32, [k](Ctx& c) {
                   Twin x = c.input({k.N, k.H, k.W, k.C}), y = out(c, {k.N, k.Ho, k.Wo, k.C});
                   c.ref().resize_bilinear(x.ref, k.mul, y.ref);
                   c.dut().resize_bilinear(x.dut, k.mul, y.dut);
                   return c.rel_l2(y);
                 }});
  }
  for (int fc : {0, 2}) {
    v.push_back({"warp 2x9x11x4 by flow channel " + std::to_string(fc) + " (past the borders too)", kF32, [fc](Ctx& c) {
                   Twin x = c.input({2, 9, 11, 4}), flow = c.input({2, 9, 11, 5}, -6.0f, 6.0f), y = out(c, {2, 9, 11, 4});
                   c.ref().warp(x.ref, flow.ref, fc, y.ref);
                   c.dut().warp(x.dut, flow.dut, fc, y.dut);
                   return c.rel_l2(y);
                 }});
  }
  v.push_back({"pixel_shuffle 2x3x5x52 r2", kExact, [](Ctx& c) {
                 Twin x = c.input({2, 3, 5, 52}), y = out(c, {2, 6, 10, 13});
                 c.ref().pixel_shuffle(x.ref, 2, y.ref);
                 c.dut().pixel_shuffle(x.dut, 2, y.dut);
                 return c.rel_l2(y);
               }});
  for (int mode = 0; mode < 3; ++mode) {
    static const char* names[] = {"plain", "scaled + residual", "scaled + residual, written over the residual (ResConv)"};
    v.push_back({std::string("leaky_relu 3x5x7x12 ") + names[mode], kExact, [mode](Ctx& c) {
                   Twin x = c.input({3, 5, 7, 12}), s = c.input({12}), r = c.input({3, 5, 7, 12}), y = out(c, {3, 5, 7, 12});
                   LeakyReluParams p;
                   p.slope = 0.2f;
                   Tensor* yr = mode == 2 ? &r.ref : &y.ref;
                   Tensor* yd = mode == 2 ? &r.dut : &y.dut;
                   if (mode >= 1) p.channel_scale = &s.ref, p.residual = &r.ref;
                   c.ref().leaky_relu(x.ref, p, *yr);
                   if (mode >= 1) p.channel_scale = &s.dut, p.residual = &r.dut;
                   c.dut().leaky_relu(x.dut, p, *yd);
                   return mode == 2 ? c.rel_l2(r) : c.rel_l2(y);
                 }});
  }
  for (bool acc : {false, true}) {
    v.push_back({std::string("copy_channels 4 of 13 at 5 -> 28 at 20") + (acc ? " accumulate x16" : ""), kExact, [acc](Ctx& c) {
                   Twin src = c.input({1, 6, 7, 13}), dst = out(c, {1, 6, 7, 28});
                   ChannelCopyParams p;
                   p.src_offset = 5;
                   p.dst_offset = 20;
                   p.count = 4;
                   p.scale = acc ? 16.0f : 1.0f;
                   p.accumulate = acc;
                   c.ref().copy_channels(src.ref, p, dst.ref);
                   c.dut().copy_channels(src.dut, p, dst.dut);
                   return c.rel_l2(dst);
                 }});
  }
  v.push_back({"mask_blend 2x7x9x3 mask channel 4 of 13", kF32, [](Ctx& c) {
                 Twin a = c.input({2, 7, 9, 3}), b = c.input({2, 7, 9, 3}), m = c.input({2, 7, 9, 13}, -4.0f, 4.0f);
                 Twin y = out(c, {2, 7, 9, 3});
                 c.ref().mask_blend(a.ref, b.ref, m.ref, 4, y.ref);
                 c.dut().mask_blend(a.dut, b.dut, m.dut, 4, y.dut);
                 return c.rel_l2(y);
               }});
}

}  // namespace

std::vector<Check> op_checks() {
  std::vector<Check> v;
  add_memory(v);
  add_linear(v);
  add_norms(v);
  add_elementwise(v);
  add_embeddings(v);
  add_attention(v);
  add_video(v);
  add_cache_and_lora(v);
  add_image(v);
  add_fused_op_checks(v);
  return v;
}

}  // namespace wan::parity
