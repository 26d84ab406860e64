#pragma once
#include <cstdint>

namespace wan::vae {

// [-1, 1] floats to RGB bytes as the pipelines post-process them: (x + 1) / 2 clamped to [0, 1],
// times 255, rounded to nearest with ties to even (as torch and numpy round).
void frames_to_rgb8(const float* pixels, int64_t n, uint8_t* out);

}  // namespace wan::vae
