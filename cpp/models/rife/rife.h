#pragma once
// RIFE frame interpolation: IFNet of Practical-RIFE's 4.25 line (train_log/IFNet_HDv3.py) on the
// Backend ops. A frame is padded with zeros (right, bottom) to a multiple of pad_multiple() as
// Practical-RIFE's inference_img.py pads it, and its head features are computed once; a pair of
// prepared frames then gives the frame at any timestep in [0, 1], as Model.inference at scale 1.0.
#include <vector>

#include "models/rife/rife_weights.h"

namespace wan::rife {

// One input frame on the backend: padded RGB [1, Hp, Wp, 3] in [0, 1] and its head features.
struct PreparedFrame {
  int64_t height = 0, width = 0;  // before padding
  Tensor image, features;
};

// What one interpolation gives, on the backend at the padded size.
struct Interpolated {
  Tensor frame;  // [1, Hp, Wp, 3]: merged = warped0 * sigmoid(mask) + warped1 * (1 - sigmoid(mask))
  Tensor flow;   // [1, Hp, Wp, 4]: the last block's flow, img0's (x, y) then img1's, in pixels
  Tensor block;  // [1, Hp, Wp, 13]: the last block's output; channel 4 is the mask logit
};

class Rife {
 public:
  Rife(Backend& backend, const RifeConfig& config, WeightSource& weights);
  const RifeConfig& config() const { return config_; }
  size_t weight_bytes() const { return weight_bytes_; }
  Backend& backend() const { return backend_; }

  // rgb: host floats [height, width, 3] in [0, 1] (uint8 / 255). pad_multiple: 0 for pad_multiple(),
  // else a multiple of it (Practical-RIFE's inference_video.py pads to 128).
  PreparedFrame prepare(const float* rgb, int64_t height, int64_t width, int64_t pad_multiple = 0);
  Interpolated interpolate(const PreparedFrame& a, const PreparedFrame& b, float timestep);

 private:
  Tensor conv(const Tensor& x, const Conv2dW& w, bool leaky);
  Tensor conv_transpose(const Tensor& x, const ConvTranspose2dW& w);
  Tensor head(const Tensor& image);
  // IFBlock.forward: x [1, Hp, Wp, C] (and the flow so far) at full size -> its 13 channels at full size.
  Tensor block(const IFBlockW& w, const Tensor& x, const Tensor* flow, int scale);

  Backend& backend_;
  RifeConfig config_;
  RifeWeights w_;
  size_t weight_bytes_ = 0;
};

}  // namespace wan::rife
