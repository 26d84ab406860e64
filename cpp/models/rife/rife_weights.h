#pragma once
// RIFE's IFNet (Practical-RIFE 4.25 / 4.26 and their lite and heavy variants with five flow blocks;
// 4.21-4.23 with four): configuration and weights under the release's state-dict names (flownet.pkl
// with "module." stripped).
#include <cstdint>
#include <vector>

#include "io/weight_source.h"
#include "ops/backend.h"

namespace wan::rife {

struct RifeConfig {
  int head_hidden = 16;    // width of encode.cnn0..cnn2
  int head_channels = 4;   // features per frame (encode.cnn3's output): 4 in 4.25/4.26, 16 in 4.26.heavy
  std::vector<int> block_widths{192, 128, 96, 64, 32};  // c of block0..blockN-1 (even)

  int blocks() const { return static_cast<int>(block_widths.size()); }
  // block i works at 1 / 2^(blocks-1-i) of the resolution: the scale list [16, 8, 4, 2, 1] ([8, 4, 2, 1]).
  int block_scale(int i) const { return 1 << (blocks() - 1 - i); }
  // The coarsest block halves its input twice more, so frames must be a multiple of block_scale(0) * 4;
  // they are padded to a multiple of 64 at least, as Practical-RIFE's inference_img.py pads them.
  int pad_multiple() const { return block_scale(0) * 4 > 64 ? block_scale(0) * 4 : 64; }
  // Channels of block0's input (img0, img1, f0, f1, timestep) and of the others' before the flow
  // (warped img0/img1, warped f0/f1, timestep, mask, 8 feature channels of the previous block).
  int first_input_channels() const { return 7 + 2 * head_channels; }
  int later_input_channels() const { return 16 + 2 * head_channels; }
};

// IFBlock's output before the flow scaling: 4 flow channels (x, y for img0 then img1), the blend
// mask logit, 8 feature channels for the next block.
constexpr int kBlockOutChannels = 13;
constexpr int kFeatureChannels = 8;
constexpr float kLeakySlope = 0.2f;

// nn.Conv2d packed for Backend::conv3d (kt = 1): [Cout, kh*kw*Cin], taps major.
struct Conv2dW {
  Tensor weight, bias;
  int k = 3, stride = 1, padding = 1;
  int64_t cin = 0, cout = 0;
};

// nn.ConvTranspose2d packed for Backend::conv_transpose2d.
struct ConvTranspose2dW {
  Tensor weight, bias;
  ConvTranspose2dParams p;
  int64_t cin = 0, cout = 0;
};

struct HeadW {
  Conv2dW cnn0, cnn1, cnn2;  // 3x3; cnn0 stride 2
  ConvTranspose2dW cnn3;     // 4x4 stride 2: back to full resolution
};

// relu(conv(x) * beta + x)
struct ResConvW {
  Conv2dW conv;
  Tensor beta;  // [c]
};

struct IFBlockW {
  int64_t in_planes = 0, c = 0;
  Conv2dW conv0_0, conv0_1;  // 3x3 stride 2 each, to c/2 then c
  std::vector<ResConvW> convblock;
  ConvTranspose2dW lastconv;  // c -> 4 * 13, followed by PixelShuffle(2)
};

struct RifeWeights {
  HeadW encode;
  std::vector<IFBlockW> blocks;
};

// Binds every tensor by its release name; returns the bytes bound.
size_t bind_rife_weights(Backend& backend, const RifeConfig& config, WeightSource& src, RifeWeights& w);

}  // namespace wan::rife
