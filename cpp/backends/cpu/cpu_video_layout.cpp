// Data movement of the video VAE on the CPU: permute, nearest 2x upsampling and Wan2.2's
// space/time folding shortcuts. All on channels-last frames [T, H, W, C].
#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_math.h"
#include "core/error.h"

namespace wan::cpu {

void CpuBackend::permute(const Tensor& x, const PermuteParams& p, Tensor& y) {
  const int r = p.rank;
  WAN_CHECK(r >= 1 && r <= 8 && x.rank() == r && y.numel() == x.numel(), "permute: rank " + std::to_string(r) +
                                                                                " for " + shape_str(x.shape()));
  int64_t in_stride[8], out_dim[8], src_stride[8];
  in_stride[r - 1] = 1;
  for (int i = r - 2; i >= 0; --i) in_stride[i] = in_stride[i + 1] * x.dim(i + 1);
  bool seen[8] = {};
  for (int i = 0; i < r; ++i) {
    WAN_CHECK(p.perm[i] >= 0 && p.perm[i] < r && !seen[p.perm[i]], "permute: not a permutation");
    seen[p.perm[i]] = true;
    out_dim[i] = x.dim(p.perm[i]);
    src_stride[i] = in_stride[p.perm[i]];
  }
  const int64_t inner = out_dim[r - 1], inner_stride = src_stride[r - 1], rows = x.numel() / std::max<int64_t>(1, inner);
  const float* xd = x.f32();
  float* yd = y.f32();
  pool_.parallel_for(rows, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      int64_t rest = row, src = 0;
      for (int i = r - 2; i >= 0; --i) {
        src += (rest % out_dim[i]) * src_stride[i];
        rest /= out_dim[i];
      }
      float* dst = yd + row * inner;
      if (inner_stride == 1) {
        std::memcpy(dst, xd + src, inner * sizeof(float));
      } else {
        for (int64_t j = 0; j < inner; ++j) dst[j] = xd[src + j * inner_stride];
      }
    }
  }, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, inner)));
}

void CpuBackend::upsample_nearest_2x(const Tensor& x, Tensor& y) {
  WAN_CHECK(x.rank() == 4, "upsample_nearest_2x: input " + shape_str(x.shape()));
  const int64_t T = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
  WAN_CHECK(y.shape() == Shape({T, 2 * H, 2 * W, C}), "upsample_nearest_2x: output " + shape_str(y.shape()));
  const float* xd = x.f32();
  float* yd = y.f32();
  const size_t pixel = C * sizeof(float);
  pool_.parallel_for(T * 2 * H, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t t = r / (2 * H), h = (r % (2 * H)) / 2;
      const float* src = xd + (t * H + h) * W * C;
      float* dst = yd + r * 2 * W * C;
      for (int64_t w = 0; w < W; ++w) {
        std::memcpy(dst + 2 * w * C, src + w * C, pixel);
        std::memcpy(dst + (2 * w + 1) * C, src + w * C, pixel);
      }
    }
  }, 4);
}

void CpuBackend::avg_down_3d(const Tensor& x, const SpaceTimeParams& p, Tensor& y) {
  WAN_CHECK(x.rank() == 4, "avg_down_3d: input " + shape_str(x.shape()));
  const int64_t T = x.dim(0), H = x.dim(1), W = x.dim(2), Cin = x.dim(3);
  const int64_t ft = p.factor_t, fs = p.factor_s, factor = ft * fs * fs;
  const int64_t pad = (ft - T % ft) % ft, To = (T + pad) / ft, Ho = H / fs, Wo = W / fs, Cout = y.dim(-1);
  WAN_CHECK(Cout > 0 && (Cin * factor) % Cout == 0 && y.shape() == Shape({To, Ho, Wo, Cout}),
            "avg_down_3d: " + shape_str(x.shape()) + " -> " + shape_str(y.shape()));
  const int64_t group = Cin * factor / Cout;
  const float inv = 1.0f / static_cast<float>(group);
  // Folded channel j = c * factor + (dt, dh, dw): its frame offset and its place within a frame,
  // relative to the block's first pixel.
  std::vector<int64_t> dt_of(Cin * factor), at_of(Cin * factor);
  for (int64_t j = 0; j < Cin * factor; ++j) {
    const int64_t c = j / factor, sub = j % factor;
    dt_of[j] = sub / (fs * fs);
    at_of[j] = (((sub / fs) % fs) * W + sub % fs) * Cin + c;
  }
  const float* xd = x.f32();
  float* yd = y.f32();
  pool_.parallel_for(To * Ho * Wo, [&](int64_t p0, int64_t p1) {
    for (int64_t q = p0; q < p1; ++q) {
      const int64_t to = q / (Ho * Wo), ho = (q / Wo) % Ho, wo = q % Wo;
      float* out = yd + q * Cout;
      for (int64_t o = 0; o < Cout; ++o) {
        float sum = 0.0f;
        for (int64_t j = o * group; j < (o + 1) * group; ++j) {
          const int64_t t = to * ft + dt_of[j] - pad;
          if (t >= 0) sum += xd[((t * H + ho * fs) * W + wo * fs) * Cin + at_of[j]];
        }
        out[o] = p.accumulate ? out[o] + sum * inv : sum * inv;
      }
    }
  }, 16);
}

void CpuBackend::dup_up_3d(const Tensor& x, const SpaceTimeParams& p, Tensor& y) {
  WAN_CHECK(x.rank() == 4, "dup_up_3d: input " + shape_str(x.shape()));
  const int64_t T = x.dim(0), H = x.dim(1), W = x.dim(2), Cin = x.dim(3);
  const int64_t ft = p.factor_t, fs = p.factor_s, factor = ft * fs * fs, Cout = y.dim(-1);
  const int64_t To = T * ft - p.drop_frames, Ho = H * fs, Wo = W * fs;
  WAN_CHECK(Cout > 0 && (Cout * factor) % Cin == 0 && p.drop_frames >= 0 && y.shape() == Shape({To, Ho, Wo, Cout}),
            "dup_up_3d: " + shape_str(x.shape()) + " -> " + shape_str(y.shape()));
  const int64_t repeats = Cout * factor / Cin;
  // Output channel o at position `sub` of its block reads input channel (o * factor + sub) / repeats.
  std::vector<int32_t> source(factor * Cout);
  for (int64_t sub = 0; sub < factor; ++sub)
    for (int64_t o = 0; o < Cout; ++o) source[sub * Cout + o] = static_cast<int32_t>((o * factor + sub) / repeats);
  const float* xd = x.f32();
  float* yd = y.f32();
  pool_.parallel_for(To * Ho * Wo, [&](int64_t p0, int64_t p1) {
    for (int64_t q = p0; q < p1; ++q) {
      const int64_t tq = q / (Ho * Wo) + p.drop_frames, hq = (q / Wo) % Ho, wq = q % Wo;
      const int64_t sub = ((tq % ft) * fs + hq % fs) * fs + wq % fs;
      const float* in = xd + (((tq / ft) * H + hq / fs) * W + wq / fs) * Cin;
      const int32_t* src = source.data() + sub * Cout;
      float* out = yd + q * Cout;
      if (p.accumulate) {
        for (int64_t o = 0; o < Cout; ++o) out[o] += in[src[o]];
      } else {
        for (int64_t o = 0; o < Cout; ++o) out[o] = in[src[o]];
      }
    }
  }, 16);
}

}  // namespace wan::cpu
