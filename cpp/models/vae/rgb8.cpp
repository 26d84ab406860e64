#include "models/vae/rgb8.h"

#include <algorithm>
#include <cmath>

namespace wan::vae {

void frames_to_rgb8(const float* pixels, int64_t n, uint8_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    // x / 2 + 0.5 is (x + 1) / 2 rounded once, as float32 computes either.
    const float v = std::min(1.0f, std::max(0.0f, pixels[i] / 2.0f + 0.5f));
    out[i] = static_cast<uint8_t>(std::nearbyint(v * 255.0f));
  }
}

}  // namespace wan::vae
