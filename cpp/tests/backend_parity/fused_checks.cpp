// The fused ops of the transformer block (issue 15 item 2): rms_norm_rope, linear_stacked and
// linear_add_gated, each against the CPU (whose versions compose the primitives, so the CPU's
// results are those of the separate ops bit for bit: the "reference only" checks hold it to that),
// and each fused device op against the same work done by its primitives on the device.
//
// Bounds (harness.h derives the constants):
// - rms_norm_rope: kF32. Float32 throughout; the device sums the squares in float (the CPU in
//   double) and takes rsqrt, then two products and a sum per rotated element: a few ulps (2^-24)
//   of relative error each, the sum of squares' error growing as sqrt(n) ulps (n <= 5120: ~1e-6),
//   far under 2e-5.
// - linear_stacked and linear_add_gated: kBf16, the bound of the one bf16 product each holds (depth
//   does not enter for random-sign inputs, see harness.h). The residual and the gate are float32
//   and exact but for one rounding per element; the residual's own magnitude (here below the
//   product's) only lowers the relative error of the sum.
// - the device-only comparisons of a fused op with its primitives: kF32 (the same bf16 operands
//   and float32 accumulation, in another order at most: cuBLASLt may choose another algorithm for
//   the stacked N, and the residual add happens in the epilogue instead of a second kernel).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tests/backend_parity/harness.h"

namespace wan::parity {

namespace {

Twin out(Ctx& c, const Shape& s) { return c.input(s); }

// cos/sin of random angles [S, half]: rotations, as the model's tables are.
std::pair<Twin, Twin> rope_tables(Ctx& c, int64_t S, int64_t half) {
  const std::vector<float> angle = c.random(S * half, -3.14159f, 3.14159f);
  std::vector<float> cs(angle.size()), sn(angle.size());
  for (size_t i = 0; i < angle.size(); ++i) {
    cs[i] = std::cos(angle[i]);
    sn[i] = std::sin(angle[i]);
  }
  return {c.from(cs, {S, half}), c.from(sn, {S, half})};
}

NormRopeParams norm_rope(int heads, const Tensor& cs, const Tensor& sn, int64_t column) {
  NormRopeParams p;
  p.heads = heads;
  p.eps = 1e-6f;
  p.cos = &cs;
  p.sin = &sn;
  p.column = column;
  return p;
}

// Modulation rows [R, 6, n] with tokens spread over them, as Wan2.2 TI2V's per-token timesteps do.
struct Mod {
  Twin rows, row_of;
  Modulation ref() const { return {&rows.ref, &row_of.ref}; }
  Modulation dut() const { return {&rows.dut, &row_of.dut}; }
};
Mod modulation(Ctx& c, int64_t tokens, int64_t n, int64_t R = 3) {
  std::vector<int32_t> row_of(static_cast<size_t>(tokens));
  for (int64_t t = 0; t < tokens; ++t) row_of[t] = static_cast<int32_t>((t * 7) % R);
  return {c.input({R, 6, n}), c.ints(row_of, {tokens})};
}

void add_rms_norm_rope(std::vector<Check>& v) {
  // In place on q (the path of separately projected q/k/v), head sizes 128, 64 and an odd 10.
  for (auto [B, S, H, D] : {std::tuple<int64_t, int64_t, int, int64_t>{2, 48, 12, 128}, {1, 7, 3, 10}, {2, 5, 2, 64}}) {
    v.push_back({"rms_norm_rope " + dims({B, S, H, D}) + " in place", kF32, [B, S, H, D](Ctx& c) {
                   Twin x = c.input({B, S, H * D}, -2.0f, 3.0f), w = c.input({H * D});
                   auto [cs, sn] = rope_tables(c, S, D / 2);
                   c.ref().rms_norm_rope(x.ref, w.ref, norm_rope(H, cs.ref, sn.ref, 0), x.ref);
                   c.dut().rms_norm_rope(x.dut, w.dut, norm_rope(H, cs.dut, sn.dut, 0), x.dut);
                   return c.rel_l2(x);
                 }});
  }
  // From a stacked [B*S, 3*dim] product: q at column 0, k at column dim, into their own tensors.
  for (int64_t part : {0, 1}) {
    v.push_back({"rms_norm_rope 2x20x2x64 from stacked q/k/v, " + std::string(part ? "k" : "q") + " columns", kF32,
                 [part](Ctx& c) {
                   const int64_t B = 2, S = 20, H = 2, D = 64, dim = H * D;
                   Twin qkv = c.input({B * S, 3 * dim}, -2.0f, 3.0f), w = c.input({dim});
                   auto [cs, sn] = rope_tables(c, S, D / 2);
                   Twin y = out(c, {B * S, dim});
                   c.ref().rms_norm_rope(qkv.ref, w.ref, norm_rope(H, cs.ref, sn.ref, part * dim), y.ref);
                   c.dut().rms_norm_rope(qkv.dut, w.dut, norm_rope(H, cs.dut, sn.dut, part * dim), y.dut);
                   // The source must come through untouched as well.
                   return std::max(c.rel_l2(y), c.rel_l2(qkv));
                 }});
  }
  v.push_back({"rms_norm_rope == rms_norm then rope (device only)", kF32, [](Ctx& c) {
                 const int64_t B = 2, S = 33, H = 4, D = 96;
                 Twin x = c.input({B, S, H * D}, -2.0f, 3.0f), w = c.input({H * D});
                 auto [cs, sn] = rope_tables(c, S, D / 2);
                 Twin fused = out(c, {B, S, H * D}), plain = out(c, {B, S, H * D});
                 c.dut().rms_norm_rope(x.dut, w.dut, norm_rope(H, cs.dut, sn.dut, 0), fused.dut);
                 c.dut().rms_norm(x.dut, w.dut, 1e-6f, plain.dut);
                 c.dut().rope(plain.dut, H, cs.dut, sn.dut);
                 return c.rel_l2(c.download_dut(plain.dut), c.download_dut(fused.dut));
               }});
}

void add_linear_stacked(std::vector<Check>& v) {
  struct Case { int64_t M, K; std::vector<int64_t> parts; bool bias; };
  const std::vector<Case> cases = {
      {37, 64, {48, 48, 48}, true}, {130, 256, {256, 256, 256}, true}, {5, 61, {8, 16, 24}, true}, {64, 96, {40, 40, 40}, false}};
  for (const Case& k : cases) {
    int64_t N = 0;
    std::string parts;
    for (int64_t p : k.parts) {
      N += p;
      parts += (parts.empty() ? "" : "+") + std::to_string(p);
    }
    v.push_back({"linear_stacked " + dims({k.M, k.K}) + " parts " + parts + (k.bias ? " bias" : ""), kBf16,
                 [k, N](Ctx& c) {
                   Twin x = c.input({k.M, k.K}), w = c.weight({N, k.K}), b = c.input({N});
                   Twin y = out(c, {k.M, N});
                   c.ref().linear_stacked(x.ref, w.ref, k.bias ? &b.ref : nullptr, k.parts, y.ref);
                   c.dut().linear_stacked(x.dut, w.dut, k.bias ? &b.dut : nullptr, k.parts, y.dut);
                   return c.rel_l2(y);
                 }});
  }
  // The CPU's stacked product is its three products bit for bit (what keeps the conformance
  // results unchanged); the device's single GEMM agrees with its own three to float32 rounding.
  auto separate = [](Backend& be, const Tensor& x, const Tensor& w, const Tensor& b, int64_t M, int64_t D) {
    Tensor y = be.empty({M, 3 * D});
    for (int64_t i = 0; i < 3; ++i) {
      Tensor part = be.empty({M, D});
      const Tensor wp = w.slice0(i * D, (i + 1) * D), bp = b.narrow_flat(i * D, D);
      be.linear(x, wp, &bp, Activation::None, part);
      ChannelCopyParams cp;
      cp.dst_offset = static_cast<int>(i * D);
      cp.count = static_cast<int>(D);
      be.copy_channels(part, cp, y);
    }
    return y;
  };
  v.push_back({"linear_stacked == three products (device only)", kF32, [separate](Ctx& c) {
                 const int64_t M = 200, K = 256, D = 128;
                 Twin x = c.input({M, K}), w = c.weight({3 * D, K}), b = c.input({3 * D});
                 Tensor stacked = c.dut().empty({M, 3 * D});
                 c.dut().linear_stacked(x.dut, w.dut, &b.dut, {D, D, D}, stacked);
                 const Tensor three = separate(c.dut(), x.dut, w.dut, b.dut, M, D);
                 return c.rel_l2(c.download_dut(three), c.download_dut(stacked));
               }});
}

void add_linear_add_gated(std::vector<Check>& v) {
  struct Case { int64_t M, K, N; bool gated, bias; };
  const Case cases[] = {{130, 256, 200, true, true}, {37, 61, 29, false, true}, {64, 128, 96, true, false},
                        {1, 8, 8, false, false},     {257, 320, 96, true, true}};
  for (const Case& k : cases) {
    v.push_back({"linear_add_gated " + dims({k.M, k.K, k.N}) + (k.gated ? " gated" : " plain") + (k.bias ? " bias" : ""),
                 kBf16, [k](Ctx& c) {
                   Twin x = c.input({k.M, k.K}), w = c.weight({k.N, k.K}), b = c.input({k.N});
                   Twin residual = c.input({k.M, k.N});
                   const Mod mod = modulation(c, k.M, k.N);
                   const Modulation mr = mod.ref(), md = mod.dut();
                   c.ref().linear_add_gated(x.ref, w.ref, k.bias ? &b.ref : nullptr, k.gated ? &mr : nullptr, 2,
                                            residual.ref);
                   c.dut().linear_add_gated(x.dut, w.dut, k.bias ? &b.dut : nullptr, k.gated ? &md : nullptr, 2,
                                            residual.dut);
                   return c.rel_l2(residual);
                 }});
  }
  for (bool gated : {true, false}) {
    v.push_back({std::string("linear_add_gated == linear then add_gated, ") + (gated ? "gated" : "plain") +
                     " (device only)",
                 kF32, [gated](Ctx& c) {
                   const int64_t M = 200, K = 256, N = 320;
                   Twin x = c.input({M, K}), w = c.weight({N, K}), b = c.input({N});
                   const std::vector<float> res = c.random(M * N);
                   Tensor fused = c.dut().upload(res.data(), {M, N}), plain = c.dut().upload(res.data(), {M, N});
                   const Mod mod = modulation(c, M, N);
                   const Modulation md = mod.dut();
                   c.dut().linear_add_gated(x.dut, w.dut, &b.dut, gated ? &md : nullptr, 5, fused);
                   Tensor y = c.dut().empty({M, N});
                   c.dut().linear(x.dut, w.dut, &b.dut, Activation::None, y);
                   c.dut().add_gated(plain, y, gated ? &md : nullptr, 5);
                   return c.rel_l2(c.download_dut(plain), c.download_dut(fused));
                 },
                 // cuBLASLt has no per-row gate epilogue: its gated op is linear then add_gated itself.
                 gated ? "mma-sync" : nullptr});
  }
}

// ---- production shapes (harness.h: Wan2.1-1.3B at 480p x 81 frames)

// k's norm and rotation from the stacked [M, 3*dim] product, every token its own table row (one
// sample of M tokens); the CPU on sampled rows with their table rows.
double norm_rope_rows(Ctx& c, int64_t M) {
  const int64_t dim = kDim, half = kHeadDim / 2;
  const std::vector<float> qkv = c.random_fast(M * 3 * dim, 2.0f), angle = c.random_fast(M * half, 3.14159f);
  std::vector<float> cs(angle.size()), sn(angle.size());
  for (size_t i = 0; i < angle.size(); ++i) {
    cs[i] = std::cos(angle[i]);
    sn[i] = std::sin(angle[i]);
  }
  Twin w = c.input({dim}, 0.5f, 1.5f);
  Tensor xd = c.dut().upload(qkv.data(), {M, 3 * dim}), csd = c.dut().upload(cs.data(), {M, half});
  Tensor snd = c.dut().upload(sn.data(), {M, half}), yd = poisoned(c.dut(), {M, dim});
  c.dut().rms_norm_rope(xd, w.dut, norm_rope(kHeads, csd, snd, dim), yd);
  const std::vector<int64_t> rows = sample_rows(M);
  const int64_t R = static_cast<int64_t>(rows.size());
  const std::vector<float> xs = gather_rows(qkv, 3 * dim, rows), css = gather_rows(cs, half, rows),
                           sns = gather_rows(sn, half, rows);
  Tensor xr = c.ref().upload(xs.data(), {R, 3 * dim}), csr = c.ref().upload(css.data(), {R, half});
  Tensor snr = c.ref().upload(sns.data(), {R, half}), yr = c.ref().empty({R, dim});
  c.ref().rms_norm_rope(xr, w.ref, norm_rope(kHeads, csr, snr, dim), yr);
  return c.rel_l2(c.download_ref(yr), gather_rows(c.download_dut(yd), dim, rows));
}

double stacked_rows(Ctx& c, int64_t M) {
  const int64_t K = kDim, D = kDim;
  const std::vector<float> x = c.random_fast(M * K);
  Twin w = c.weight({3 * D, K}, 3.0f / std::sqrt(static_cast<float>(K))), b = c.input({3 * D});
  Tensor xd = c.dut().upload(x.data(), {M, K}), yd = poisoned(c.dut(), {M, 3 * D});
  c.dut().linear_stacked(xd, w.dut, &b.dut, {D, D, D}, yd);
  const std::vector<int64_t> rows = sample_rows(M);
  const int64_t R = static_cast<int64_t>(rows.size());
  const std::vector<float> xs = gather_rows(x, K, rows);
  Tensor xr = c.ref().upload(xs.data(), {R, K}), yr = c.ref().empty({R, 3 * D});
  c.ref().linear_stacked(xr, w.ref, &b.ref, {D, D, D}, yr);
  return c.rel_l2(c.download_ref(yr), gather_rows(c.download_dut(yd), 3 * D, rows));
}

// residual [M, N] += gate * (x [M, K] w^T + b), two timestep rows spread over the tokens.
double add_gated_rows(Ctx& c, int64_t M, int64_t K, int64_t N, bool gated) {
  const std::vector<float> x = c.random_fast(M * K), res = c.random_fast(M * N);
  Twin w = c.weight({N, K}, 3.0f / std::sqrt(static_cast<float>(K))), b = c.input({N});
  Twin table = c.input({2, 6, N});
  std::vector<int32_t> row_of(static_cast<size_t>(M));
  for (int64_t t = 0; t < M; ++t) row_of[t] = static_cast<int32_t>(t % 3 == 0);
  Tensor xd = c.dut().upload(x.data(), {M, K}), rd = c.dut().upload(res.data(), {M, N});
  Tensor rod = c.dut().upload_i32(row_of.data(), {M});
  const Modulation md{&table.dut, &rod};
  c.dut().linear_add_gated(xd, w.dut, &b.dut, gated ? &md : nullptr, 2, rd);
  const std::vector<int64_t> rows = sample_rows(M);
  const int64_t R = static_cast<int64_t>(rows.size());
  const std::vector<float> xs = gather_rows(x, K, rows), rs = gather_rows(res, N, rows);
  std::vector<int32_t> ros(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) ros[i] = row_of[rows[i]];
  Tensor xr = c.ref().upload(xs.data(), {R, K}), rr = c.ref().upload(rs.data(), {R, N});
  Tensor ror = c.ref().upload_i32(ros.data(), {R});
  const Modulation mr{&table.ref, &ror};
  c.ref().linear_add_gated(xr, w.ref, &b.ref, gated ? &mr : nullptr, 2, rr);
  return c.rel_l2(c.download_ref(rr), gather_rows(c.download_dut(rd), N, rows));
}

}  // namespace

void add_fused_op_checks(std::vector<Check>& v) {
  add_rms_norm_rope(v);
  add_linear_stacked(v);
  add_linear_add_gated(v);
}

void add_fused_production_checks(std::vector<Check>& v) {
  v.push_back({"rms_norm_rope production " + dims({kTokens, 3 * kDim}) + " k columns h12 d128 (sampled rows)", kF32,
               [](Ctx& c) { return norm_rope_rows(c, production_tokens(c)); }});
  v.push_back({"linear_stacked production " + dims({kTokens, kDim, 3 * kDim}) + " q/k/v (sampled rows)", kBf16,
               [](Ctx& c) { return stacked_rows(c, production_tokens(c)); }});
  v.push_back({"linear_add_gated production " + dims({kTokens, kDim, kDim}) + " self-attention out, gated (sampled rows)",
               kBf16, [](Ctx& c) { return add_gated_rows(c, production_tokens(c), kDim, kDim, true); }});
  v.push_back({"linear_add_gated production " + dims({kTokens, kDim, kDim}) + " cross-attention out, plain (sampled rows)",
               kBf16, [](Ctx& c) { return add_gated_rows(c, production_tokens(c), kDim, kDim, false); }});
  v.push_back({"linear_add_gated production " + dims({kTokens, kFfn, kDim}) + " ffn out, gated (sampled rows)", kBf16,
               [](Ctx& c) { return add_gated_rows(c, production_tokens(c), kFfn, kDim, true); }});
}

}  // namespace wan::parity
