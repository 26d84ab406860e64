#include "models/vae/wan_vae_weights.h"

#include "core/error.h"

namespace wan::vae {

int WanVaeConfig::spatial_factor() const { return (1 << (levels() - 1)) * patch_size; }

int WanVaeConfig::temporal_factor() const {
  int f = 1;
  for (int i = 0; i + 1 < levels(); ++i)
    if (temperal_downsample[i]) f *= 2;
  return f;
}

namespace {

class Binder {
 public:
  Binder(Backend& be, WeightSource& src) : be_(be), src_(src) {}
  size_t bytes() const { return bytes_; }

  Tensor take(const std::string& name, const Shape& shape) {
    Tensor t = src_.take(name, shape);
    bytes_ += t.bytes();
    return t;
  }

  // A conv3d / conv2d weight [Cout, Cin, (kt,) kh, kw] repacked taps-major for conv3d.
  ConvW conv(const std::string& name, int64_t cin, int64_t cout, int kt, int kh, int kw, bool is_2d = false) {
    ConvW c;
    c.cin = cin;
    c.cout = cout;
    c.kt = kt;
    c.kh = kh;
    c.kw = kw;
    const int64_t taps = int64_t{kt} * kh * kw;
    Tensor stored = is_2d ? take(name + ".weight", {cout, cin, kh, kw}) : take(name + ".weight", {cout, cin, kt, kh, kw});
    c.weight = be_.empty({cout, taps * cin});
    if (taps == 1) {
      be_.copy(stored, c.weight);
    } else {
      PermuteParams p;
      p.rank = 3;
      p.perm[0] = 0;
      p.perm[1] = 2;
      p.perm[2] = 1;
      be_.permute(stored.view({cout, cin, taps}), p, c.weight);
    }
    c.bias = take(name + ".bias", {cout});
    return c;
  }

  ConvW conv3(const std::string& name, int64_t cin, int64_t cout) { return conv(name, cin, cout, 3, 3, 3); }

  Tensor gain(const std::string& name, int64_t c, int trailing_ones) {
    Shape s{c};
    for (int i = 0; i < trailing_ones; ++i) s.push_back(1);
    return take(name, s).view({c});
  }

  ResBlockW res_block(const std::string& p, int64_t in, int64_t out) {
    ResBlockW r;
    r.norm1 = gain(p + ".norm1.gamma", in, 3);
    r.conv1 = conv3(p + ".conv1", in, out);
    r.norm2 = gain(p + ".norm2.gamma", out, 3);
    r.conv2 = conv3(p + ".conv2", out, out);
    if (in != out) r.shortcut = conv(p + ".conv_shortcut", in, out, 1, 1, 1);
    return r;
  }

  AttentionW attention(const std::string& p, int64_t c) {
    AttentionW a;
    a.norm = gain(p + ".norm.gamma", c, 2);
    Tensor qkv = take(p + ".to_qkv.weight", {3 * c, c, 1, 1}).view({3 * c, c});
    Tensor qkv_bias = take(p + ".to_qkv.bias", {3 * c});
    a.to_q = qkv.slice0(0, c);
    a.to_k = qkv.slice0(c, 2 * c);
    a.to_v = qkv.slice0(2 * c, 3 * c);
    a.q_bias = qkv_bias.slice0(0, c);
    a.k_bias = qkv_bias.slice0(c, 2 * c);
    a.v_bias = qkv_bias.slice0(2 * c, 3 * c);
    a.proj = take(p + ".proj.weight", {c, c, 1, 1}).view({c, c});
    a.proj_bias = take(p + ".proj.bias", {c});
    return a;
  }

  MidBlockW mid_block(const std::string& p, int64_t c) {
    MidBlockW m;
    m.res0 = res_block(p + ".resnets.0", c, c);
    m.attn = attention(p + ".attentions.0", c);
    m.res1 = res_block(p + ".resnets.1", c, c);
    return m;
  }

  // WanResample: `conv_out` is the per-frame conv's width (Wan2.1 halves it when upsampling).
  ResampleW resample(const std::string& p, ResampleMode mode, int64_t c, int64_t conv_out) {
    ResampleW r;
    r.mode = mode;
    r.conv = conv(p + ".resample.1", c, conv_out, 1, 3, 3, true);
    if (mode == ResampleMode::Up3d) r.time_conv = conv(p + ".time_conv", c, 2 * c, 3, 1, 1);
    if (mode == ResampleMode::Down3d) r.time_conv = conv(p + ".time_conv", c, c, 3, 1, 1);
    return r;
  }

 private:
  Backend& be_;
  WeightSource& src_;
  size_t bytes_ = 0;
};

void bind_encoder(Binder& b, const WanVaeConfig& c, EncoderW& e) {
  const int L = c.levels();
  std::vector<int64_t> dims{c.base_dim};
  for (int m : c.dim_mult) dims.push_back(int64_t{c.base_dim} * m);
  e.conv_in = b.conv3("encoder.conv_in", c.in_channels, dims[0]);
  e.levels.resize(L);
  int flat = 0;  // Wan2.1 numbers its resnets and resamplers in one list
  for (int i = 0; i < L; ++i) {
    DownLevelW& l = e.levels[i];
    const bool down = i != L - 1;
    const bool temporal = down && c.temperal_downsample[i];
    const ResampleMode mode = !down ? ResampleMode::None : temporal ? ResampleMode::Down3d : ResampleMode::Down2d;
    int64_t in = dims[i];
    const int64_t out = dims[i + 1];
    for (int j = 0; j < c.num_res_blocks; ++j) {
      const std::string name = c.is_residual ? "encoder.down_blocks." + std::to_string(i) + ".resnets." + std::to_string(j)
                                             : "encoder.down_blocks." + std::to_string(flat++);
      l.resnets.push_back(b.res_block(name, in, out));
      in = out;
    }
    if (down) {
      const std::string name = c.is_residual ? "encoder.down_blocks." + std::to_string(i) + ".downsampler"
                                             : "encoder.down_blocks." + std::to_string(flat++);
      l.down = b.resample(name, mode, out, out);
    }
    if (c.is_residual) {
      l.avg_shortcut = true;
      l.shortcut.factor_t = temporal ? 2 : 1;
      l.shortcut.factor_s = down ? 2 : 1;
      const int64_t folded = dims[i] * l.shortcut.factor_t * l.shortcut.factor_s * l.shortcut.factor_s;
      if (folded % out != 0)
        fail("E_MODEL_FORMAT", "encoder level " + std::to_string(i) + ": " + std::to_string(folded) +
                                   " folded channels cannot be averaged into " + std::to_string(out));
    }
  }
  e.mid = b.mid_block("encoder.mid_block", dims[L]);
  e.norm_out = b.gain("encoder.norm_out.gamma", dims[L], 3);
  e.conv_out = b.conv3("encoder.conv_out", dims[L], 2 * int64_t{c.z_dim});
}

void bind_decoder(Binder& b, const WanVaeConfig& c, DecoderW& d) {
  const int L = c.levels();
  std::vector<int64_t> dims{int64_t{c.decoder_base_dim} * c.dim_mult[L - 1]};
  for (int i = L - 1; i >= 0; --i) dims.push_back(int64_t{c.decoder_base_dim} * c.dim_mult[i]);
  d.conv_in = b.conv3("decoder.conv_in", c.z_dim, dims[0]);
  d.mid = b.mid_block("decoder.mid_block", dims[0]);
  d.levels.resize(L);
  for (int i = 0; i < L; ++i) {
    UpLevelW& l = d.levels[i];
    const std::string p = "decoder.up_blocks." + std::to_string(i);
    // Wan2.1's upsamplers halve the width, so every level after the first starts at half.
    int64_t in = i > 0 && !c.is_residual ? dims[i] / 2 : dims[i];
    const int64_t level_in = in, out = dims[i + 1];
    const bool up = i != L - 1;
    // temperal_upsample is temperal_downsample reversed.
    const bool temporal = up && c.temperal_downsample[c.temperal_downsample.size() - 1 - i];
    for (int j = 0; j <= c.num_res_blocks; ++j) {
      l.resnets.push_back(b.res_block(p + ".resnets." + std::to_string(j), in, out));
      in = out;
    }
    if (up) {
      const ResampleMode mode = temporal ? ResampleMode::Up3d : ResampleMode::Up2d;
      l.up = c.is_residual ? b.resample(p + ".upsampler", mode, out, out) : b.resample(p + ".upsamplers.0", mode, out, out / 2);
    }
    if (c.is_residual && up) {
      l.dup_shortcut = true;
      l.shortcut.factor_t = temporal ? 2 : 1;
      l.shortcut.factor_s = 2;
      const int64_t unfolded = out * l.shortcut.factor_t * 4;
      if (unfolded % level_in != 0)
        fail("E_MODEL_FORMAT", "decoder level " + std::to_string(i) + ": " + std::to_string(level_in) +
                                   " channels cannot be repeated into " + std::to_string(unfolded));
    }
  }
  d.norm_out = b.gain("decoder.norm_out.gamma", dims[L], 3);
  d.conv_out = b.conv3("decoder.conv_out", dims[L], c.out_channels);
}

}  // namespace

size_t bind_vae_weights(Backend& backend, const WanVaeConfig& c, WeightSource& src, WanVaeWeights& w) {
  if (c.levels() < 1 || static_cast<int>(c.temperal_downsample.size()) < c.levels() - 1)
    fail("E_INVALID_ARGUMENT", "VAE config: temperal_downsample needs one entry per level but the last");
  if (c.patch_size < 1 || c.in_channels % (c.patch_size * c.patch_size) || c.out_channels % (c.patch_size * c.patch_size))
    fail("E_INVALID_ARGUMENT", "VAE config: channels must be whole patches of patch_size^2");
  Binder b(backend, src);
  if (c.with_encoder) {
    bind_encoder(b, c, w.encoder);
    w.quant_conv = b.conv("quant_conv", 2 * int64_t{c.z_dim}, 2 * int64_t{c.z_dim}, 1, 1, 1);
  }
  if (c.with_decoder) {
    w.post_quant_conv = b.conv("post_quant_conv", c.z_dim, c.z_dim, 1, 1, 1);
    bind_decoder(b, c, w.decoder);
  }
  src.finish();
  return b.bytes();
}

}  // namespace wan::vae
