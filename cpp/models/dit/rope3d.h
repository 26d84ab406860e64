#pragma once
// The 3D rotary position table of the Wan transformer: each head's pairs are split into a frame,
// a height and a width section (44/42/42 of 128; h = w = 2 * (head_dim / 6)), each rotating with
// its own frequency ladder over that axis' patch index.
#include <vector>

namespace wan::dit {

struct RopeTable {
  std::vector<float> cos, sin;  // [S, head_dim / 2], S = frames * height * width (patch units)
};

RopeTable build_rope3d(int head_dim, int frames, int height, int width, int max_seq_len);

}  // namespace wan::dit
