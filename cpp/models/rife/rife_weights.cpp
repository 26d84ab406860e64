#include "models/rife/rife_weights.h"

#include <string>

#include "core/error.h"

namespace wan::rife {

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

  // torch [Cout, Cin, k, k] -> [Cout, k*k*Cin]
  Conv2dW conv(const std::string& name, int64_t cin, int64_t cout, int k, int stride, int padding) {
    Conv2dW c;
    c.cin = cin;
    c.cout = cout;
    c.k = k;
    c.stride = stride;
    c.padding = padding;
    Tensor stored = take(name + ".weight", {cout, cin, k, k});
    c.weight = be_.empty({cout, int64_t{k} * k * cin});
    PermuteParams p;
    p.rank = 3;
    p.perm[0] = 0;
    p.perm[1] = 2;
    p.perm[2] = 1;
    be_.permute(stored.view({cout, cin, int64_t{k} * k}), p, c.weight);
    c.bias = take(name + ".bias", {cout});
    return c;
  }

  // torch [Cin, Cout, k, k] -> [Cout, k*k*Cin]
  ConvTranspose2dW conv_transpose(const std::string& name, int64_t cin, int64_t cout, int k, int stride, int padding) {
    ConvTranspose2dW c;
    c.cin = cin;
    c.cout = cout;
    c.p.kh = c.p.kw = k;
    c.p.stride = stride;
    c.p.padding = padding;
    Tensor stored = take(name + ".weight", {cin, cout, k, k});
    c.weight = be_.empty({cout, int64_t{k} * k * cin});
    PermuteParams p;
    p.rank = 3;
    p.perm[0] = 1;
    p.perm[1] = 2;
    p.perm[2] = 0;
    be_.permute(stored.view({cin, cout, int64_t{k} * k}), p, c.weight);
    c.bias = take(name + ".bias", {cout});
    return c;
  }

 private:
  Backend& be_;
  WeightSource& src_;
  size_t bytes_ = 0;
};

IFBlockW bind_block(Binder& b, const std::string& p, int64_t in_planes, int64_t c) {
  IFBlockW w;
  w.in_planes = in_planes;
  w.c = c;
  w.conv0_0 = b.conv(p + ".conv0.0.0", in_planes, c / 2, 3, 2, 1);
  w.conv0_1 = b.conv(p + ".conv0.1.0", c / 2, c, 3, 2, 1);
  for (int j = 0; j < 8; ++j) {
    const std::string r = p + ".convblock." + std::to_string(j);
    ResConvW rc;
    rc.conv = b.conv(r + ".conv", c, c, 3, 1, 1);
    rc.beta = b.take(r + ".beta", {1, c, 1, 1}).view({c});
    w.convblock.push_back(std::move(rc));
  }
  w.lastconv = b.conv_transpose(p + ".lastconv.0", c, 4 * kBlockOutChannels, 4, 2, 1);
  return w;
}

}  // namespace

size_t bind_rife_weights(Backend& backend, const RifeConfig& c, WeightSource& src, RifeWeights& w) {
  if (c.blocks() < 1 || c.head_hidden < 1 || c.head_channels < 1)
    fail("E_INVALID_ARGUMENT", "RIFE config: needs at least one block and a positive head width");
  for (int width : c.block_widths)
    if (width < 2 || width % 2) fail("E_INVALID_ARGUMENT", "RIFE config: block widths must be even and positive");
  Binder b(backend, src);
  const int64_t hh = c.head_hidden;
  w.encode.cnn0 = b.conv("encode.cnn0", 3, hh, 3, 2, 1);
  w.encode.cnn1 = b.conv("encode.cnn1", hh, hh, 3, 1, 1);
  w.encode.cnn2 = b.conv("encode.cnn2", hh, hh, 3, 1, 1);
  w.encode.cnn3 = b.conv_transpose("encode.cnn3", hh, c.head_channels, 4, 2, 1);
  for (int i = 0; i < c.blocks(); ++i)
    w.blocks.push_back(bind_block(b, "block" + std::to_string(i),
                                  i == 0 ? c.first_input_channels() : c.later_input_channels() + 4, c.block_widths[i]));
  return b.bytes();
}

}  // namespace wan::rife
