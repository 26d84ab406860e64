#include "models/dit/rope3d.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace wan::dit {

RopeTable build_rope3d(int head_dim, int frames, int height, int width, int max_seq_len) {
  const int h_dim = 2 * (head_dim / 6), w_dim = h_dim, t_dim = head_dim - h_dim - w_dim;
  if (frames > max_seq_len || height > max_seq_len || width > max_seq_len)
    fail("E_INVALID_ARGUMENT", "latent grid " + std::to_string(frames) + "x" + std::to_string(height) + "x" +
                                   std::to_string(width) + " exceeds rope_max_seq_len " + std::to_string(max_seq_len));
  const int half = head_dim / 2;
  const int sections[3] = {t_dim, h_dim, w_dim};
  // Angles in double, cast once, as the reference builds its table.
  std::vector<double> freqs;
  for (int d : sections)
    for (int j = 0; j < d / 2; ++j) freqs.push_back(1.0 / std::pow(10000.0, static_cast<double>(2 * j) / d));
  RopeTable t;
  const size_t S = static_cast<size_t>(frames) * height * width;
  t.cos.resize(S * half);
  t.sin.resize(S * half);
  size_t s = 0;
  for (int f = 0; f < frames; ++f)
    for (int h = 0; h < height; ++h)
      for (int w = 0; w < width; ++w, ++s) {
        int i = 0;
        const int pos[3] = {f, h, w};
        for (int sec = 0; sec < 3; ++sec)
          for (int j = 0; j < sections[sec] / 2; ++j, ++i) {
            const double a = pos[sec] * freqs[i];
            t.cos[s * half + i] = static_cast<float>(std::cos(a));
            t.sin[s * half + i] = static_cast<float>(std::sin(a));
          }
      }
  return t;
}

}  // namespace wan::dit
