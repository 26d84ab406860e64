#include "models/rife/rife.h"

#include <string>

#include "core/error.h"

namespace wan::rife {

Rife::Rife(Backend& backend, const RifeConfig& config, WeightSource& weights) : backend_(backend), config_(config) {
  weight_bytes_ = bind_rife_weights(backend, config_, weights, w_);
  weights.finish();
}

Tensor Rife::conv(const Tensor& x, const Conv2dW& w, bool leaky) {
  Conv3dParams p;
  p.kh = p.kw = w.k;
  p.stride_h = p.stride_w = w.stride;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = w.padding;
  const int64_t N = x.dim(0), Ho = (x.dim(1) + 2 * w.padding - w.k) / w.stride + 1,
                Wo = (x.dim(2) + 2 * w.padding - w.k) / w.stride + 1;
  // conv3d with kt = 1 on N frames is a 2-D conv of each image.
  Tensor y = backend_.empty({N, Ho, Wo, w.cout});
  backend_.conv3d(x, nullptr, w.weight, &w.bias, p, y);
  if (leaky) {
    LeakyReluParams lp;
    lp.slope = kLeakySlope;
    backend_.leaky_relu(y, lp, y);
  }
  return y;
}

Tensor Rife::conv_transpose(const Tensor& x, const ConvTranspose2dW& w) {
  const ConvTranspose2dParams& p = w.p;
  const int64_t Ho = (x.dim(1) - 1) * p.stride - 2 * p.padding + p.kh, Wo = (x.dim(2) - 1) * p.stride - 2 * p.padding + p.kw;
  Tensor y = backend_.empty({x.dim(0), Ho, Wo, w.cout});
  backend_.conv_transpose2d(x, w.weight, &w.bias, p, y);
  return y;
}

Tensor Rife::head(const Tensor& image) {
  Tensor x = conv(image, w_.encode.cnn0, true);
  x = conv(x, w_.encode.cnn1, true);
  x = conv(x, w_.encode.cnn2, true);
  return conv_transpose(x, w_.encode.cnn3);
}

Tensor Rife::block(const IFBlockW& w, const Tensor& x, const Tensor* flow, int scale) {
  const int64_t H = x.dim(1), W = x.dim(2), Hs = H / scale, Ws = W / scale, C = x.dim(3);
  // x = interpolate(x, 1/scale); flow = interpolate(flow, 1/scale) / scale; cat((x, flow), 1)
  Tensor in = backend_.empty({1, Hs, Ws, w.in_planes});
  if (flow) {
    Tensor xs = backend_.empty({1, Hs, Ws, C}), fs = backend_.empty({1, Hs, Ws, 4});
    backend_.resize_bilinear(x, 1.0f, xs);
    backend_.resize_bilinear(*flow, 1.0f / static_cast<float>(scale), fs);
    ChannelCopyParams cp;
    cp.count = static_cast<int>(C);
    backend_.copy_channels(xs, cp, in);
    cp.count = 4;
    cp.dst_offset = static_cast<int>(C);
    backend_.copy_channels(fs, cp, in);
  } else {
    backend_.resize_bilinear(x, 1.0f, in);
  }
  Tensor feat = conv(in, w.conv0_0, true);
  feat = conv(feat, w.conv0_1, true);
  for (const ResConvW& rc : w.convblock) {
    Tensor t = conv(feat, rc.conv, false);
    LeakyReluParams lp;
    lp.slope = kLeakySlope;
    lp.channel_scale = &rc.beta;
    lp.residual = &feat;
    backend_.leaky_relu(t, lp, feat);  // in place: each element reads its own residual first
  }
  Tensor up = conv_transpose(feat, w.lastconv);  // [1, Hs/2, Ws/2, 52]
  Tensor shuffled = backend_.empty({1, Hs, Ws, kBlockOutChannels});
  backend_.pixel_shuffle(up, 2, shuffled);
  Tensor tmp = backend_.empty({1, H, W, kBlockOutChannels});
  backend_.resize_bilinear(shuffled, 1.0f, tmp);
  return tmp;
}

PreparedFrame Rife::prepare(const float* rgb, int64_t height, int64_t width, int64_t pad_multiple) {
  if (height < 1 || width < 1) fail("E_INVALID_ARGUMENT", "RIFE: empty frame");
  const int64_t m = pad_multiple ? pad_multiple : config_.pad_multiple();
  if (m < 1 || m % config_.pad_multiple() != 0)
    fail("E_INVALID_ARGUMENT", "RIFE: frames must be padded to a multiple of " + std::to_string(config_.pad_multiple()) +
                                   ", not " + std::to_string(m));
  const int64_t Hp = (height + m - 1) / m * m, Wp = (width + m - 1) / m * m;
  std::vector<float> padded(static_cast<size_t>(Hp * Wp * 3), 0.0f);
  for (int64_t h = 0; h < height; ++h)
    std::copy(rgb + h * width * 3, rgb + (h + 1) * width * 3, padded.begin() + h * Wp * 3);
  PreparedFrame f;
  f.height = height;
  f.width = width;
  f.image = backend_.upload(padded.data(), {1, Hp, Wp, 3});
  f.features = head(f.image);
  return f;
}

Interpolated Rife::interpolate(const PreparedFrame& a, const PreparedFrame& b, float timestep) {
  if (a.image.shape() != b.image.shape())
    fail("E_INVALID_ARGUMENT", "RIFE: the two frames differ in size (" + shape_str(a.image.shape()) + " and " +
                                   shape_str(b.image.shape()) + ")");
  const int64_t Hp = a.image.dim(1), Wp = a.image.dim(2), hc = config_.head_channels;
  const std::vector<float> plane(static_cast<size_t>(Hp * Wp), timestep);
  const Tensor t = backend_.upload(plane.data(), {1, Hp, Wp, 1});

  // Lays tensors side by side along the channels, as torch.cat(..., 1).
  auto concat = [&](std::initializer_list<std::pair<const Tensor*, std::pair<int, int>>> parts, int64_t channels) {
    Tensor out = backend_.empty({1, Hp, Wp, channels});
    int at = 0;
    for (const auto& [src, range] : parts) {
      ChannelCopyParams cp;
      cp.src_offset = range.first;
      cp.count = range.second;
      cp.dst_offset = at;
      backend_.copy_channels(*src, cp, out);
      at += range.second;
    }
    WAN_CHECK(at == channels, "RIFE: concatenated channels");
    return out;
  };
  const int ihc = static_cast<int>(hc);
  Interpolated r;
  r.flow = backend_.empty({1, Hp, Wp, 4});
  Tensor warped0 = backend_.empty({1, Hp, Wp, 3}), warped1 = backend_.empty({1, Hp, Wp, 3});
  for (int i = 0; i < config_.blocks(); ++i) {
    const int scale = config_.block_scale(i);
    const IFBlockW& w = w_.blocks[i];
    ChannelCopyParams flow_update;
    flow_update.count = 4;
    flow_update.scale = static_cast<float>(scale);  // flow = tmp[:, :4] * scale (added to the flow after block 0)
    if (i == 0) {
      Tensor x = concat({{&a.image, {0, 3}}, {&b.image, {0, 3}}, {&a.features, {0, ihc}}, {&b.features, {0, ihc}}, {&t, {0, 1}}},
                        config_.first_input_channels());
      r.block = block(w, x, nullptr, scale);
    } else {
      Tensor wf0 = backend_.empty({1, Hp, Wp, hc}), wf1 = backend_.empty({1, Hp, Wp, hc});
      backend_.warp(a.features, r.flow, 0, wf0);
      backend_.warp(b.features, r.flow, 2, wf1);
      // (warped img0, warped img1, wf0, wf1, timestep, mask, feat): the mask and the features are
      // channels 4..12 of the previous block's output.
      Tensor x = concat({{&warped0, {0, 3}}, {&warped1, {0, 3}}, {&wf0, {0, ihc}}, {&wf1, {0, ihc}}, {&t, {0, 1}},
                         {&r.block, {4, 1 + kFeatureChannels}}},
                        config_.later_input_channels());
      r.block = block(w, x, &r.flow, scale);
      flow_update.accumulate = true;
    }
    backend_.copy_channels(r.block, flow_update, r.flow);
    backend_.warp(a.image, r.flow, 0, warped0);
    backend_.warp(b.image, r.flow, 2, warped1);
  }
  r.frame = backend_.empty({1, Hp, Wp, 3});
  backend_.mask_blend(warped0, warped1, r.block, 4, r.frame);
  return r;
}

}  // namespace wan::rife
