// The video VAE's ops on the CPU, on channels-last frames [T, H, W, C]:
// - conv3d: im2col of a tile of output pixels of one output frame, then one GEMM per tile, so the
//   patch matrix never holds more than a tile, whatever the video's length or size;
// - the VAE's RMS norm: F.normalize over channels times sqrt(C) and a gain, with the SiLU that
//   follows it in every residual block and head fused in;
// - data movement: permute, nearest 2x upsampling and Wan2.2's space/time folding shortcuts.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_math.h"
#include "core/error.h"

namespace wan::cpu {

// ---- conv3d

namespace {

// About 40 MiB of patch rows per GEMM: long enough for the GEMM to run at speed, short enough
// that a 384-channel 3x3x3 conv at 720p does not need a gigabyte of scratch.
int64_t patch_tile_rows(int64_t K, int64_t M) {
  const int64_t rows = (int64_t{10} << 20) / std::max<int64_t>(1, K);
  return std::min(M, std::max<int64_t>(64, rows));
}

WAN_SIMD_CLONES void add_bias_rows(float* y, const float* b, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i) y[r * n + i] += b[i];
}

}  // namespace

void CpuBackend::conv3d(const Tensor& x, const Tensor* past, const Tensor& w, const Tensor* bias,
                        const Conv3dParams& p, Tensor& y) {
  WAN_CHECK(x.rank() == 4, "conv3d: input " + shape_str(x.shape()) + " is not [T, H, W, C]");
  const int64_t T = x.dim(0), H = x.dim(1), W = x.dim(2), Cin = x.dim(3);
  const int64_t P = past ? past->dim(0) : 0, Z = p.pad_front;
  WAN_CHECK(!past || (past->rank() == 4 && past->dim(1) == H && past->dim(2) == W && past->dim(3) == Cin),
            "conv3d: past frames " + (past ? shape_str(past->shape()) : std::string()) + " for input " +
                shape_str(x.shape()));
  const int64_t plane_taps = int64_t{p.kh} * p.kw, K = p.kt * plane_taps * Cin, Cout = w.dim(0);
  WAN_CHECK(w.rank() == 2 && w.dim(1) == K, "conv3d: weight " + shape_str(w.shape()) + " for " +
                                                std::to_string(p.kt * plane_taps) + " taps of " + std::to_string(Cin) +
                                                " channels");
  WAN_CHECK(!bias || bias->numel() == Cout, "conv3d: bias " + (bias ? shape_str(bias->shape()) : std::string()));
  WAN_CHECK(p.kt > 0 && p.kh > 0 && p.kw > 0 && p.stride_t > 0 && p.stride_h > 0 && p.stride_w > 0,
            "conv3d: kernel sizes and strides must be positive");
  WAN_CHECK(Z >= 0 && Z + P + T >= p.kt, "conv3d: fewer frames than the kernel");
  const int64_t To = (Z + P + T - p.kt) / p.stride_t + 1;
  const int64_t Ho = (H + p.pad_top + p.pad_bottom - p.kh) / p.stride_h + 1;
  const int64_t Wo = (W + p.pad_left + p.pad_right - p.kw) / p.stride_w + 1;
  WAN_CHECK(y.shape() == Shape({To, Ho, Wo, Cout}),
            "conv3d: output " + shape_str(y.shape()) + ", expected " + shape_str({To, Ho, Wo, Cout}));

  const int64_t frame_elems = H * W * Cin, M = Ho * Wo, tap_cols = plane_taps * Cin;
  // Frame s of the sequence (zeros, past, x); null for the zero frames, whose taps are skipped.
  auto frame = [&](int64_t s) -> const float* {
    if (s < Z) return nullptr;
    s -= Z;
    return s < P ? past->f32() + s * frame_elems : x.f32() + (s - P) * frame_elems;
  };
  const float beta0 = p.accumulate ? 1.0f : 0.0f;
  float* yd = y.f32();
  const float* wd = w.f32();
  const bool pointwise_space = p.kh == 1 && p.kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
                               p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0;
  const int64_t tile = pointwise_space ? 0 : patch_tile_rows(K, M);
  // Kept per calling thread between calls: fresh pages for every conv cost more than the copy.
  thread_local std::vector<float> scratch;
  if (scratch.size() < static_cast<size_t>(tile * K)) scratch.assign(static_cast<size_t>(tile * K), 0.0f);
  float* const patch = scratch.data();  // the pool's workers fill it: they must not name their own
  std::vector<const float*> frames(p.kt);

  for (int64_t to = 0; to < To; ++to) {
    check_cancel("in a convolution");
    int dt0 = 0;  // zero frames come first, so the taps that read data are a suffix
    for (int dt = 0; dt < p.kt; ++dt) {
      frames[dt] = frame(to * p.stride_t + dt);
      if (!frames[dt]) dt0 = dt + 1;
    }
    float* yt = yd + to * M * Cout;
    if (dt0 == p.kt) {
      if (!p.accumulate) std::memset(yt, 0, M * Cout * sizeof(float));
      continue;
    }
    if (pointwise_space) {
      // Each temporal tap is a plain product of a whole input frame: no patch matrix at all.
      for (int dt = dt0; dt < p.kt; ++dt)
        gemm_(true, M, Cout, Cin, 1.0f, frames[dt], Cin, wd + dt * Cin, K, dt == dt0 ? beta0 : 1.0f, yt, Cout);
      continue;
    }
    const int64_t Kt = (p.kt - dt0) * tap_cols, span = int64_t{p.kw} * Cin;
    for (int64_t m0 = 0; m0 < M; m0 += tile) {
      check_cancel("in a convolution");
      const int64_t rows = std::min(tile, M - m0);
      pool_.parallel_for(rows, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t m = m0 + r, ho = m / Wo, wo = m % Wo;
          const int64_t w0 = wo * p.stride_w - p.pad_left;
          const bool row_inside = w0 >= 0 && w0 + p.kw <= W;
          float* dst = patch + r * Kt;
          for (int dt = dt0; dt < p.kt; ++dt) {
            const float* f = frames[dt];
            for (int dh = 0; dh < p.kh; ++dh, dst += span) {
              const int64_t hi = ho * p.stride_h + dh - p.pad_top;
              if (hi < 0 || hi >= H) {
                std::memset(dst, 0, span * sizeof(float));
                continue;
              }
              const float* src_row = f + hi * W * Cin;
              if (row_inside) {
                std::memcpy(dst, src_row + w0 * Cin, span * sizeof(float));
                continue;
              }
              for (int dw = 0; dw < p.kw; ++dw) {
                const int64_t wi = w0 + dw;
                if (wi < 0 || wi >= W)
                  std::memset(dst + dw * Cin, 0, Cin * sizeof(float));
                else
                  std::memcpy(dst + dw * Cin, src_row + wi * Cin, Cin * sizeof(float));
              }
            }
          }
        }
      }, 8);
      gemm_(true, rows, Cout, Kt, 1.0f, patch, Kt, wd + dt0 * tap_cols, K, beta0, yt + m0 * Cout, Cout);
    }
  }
  if (bias) {
    const float* b = bias->f32();
    pool_.parallel_for(To * M, [&](int64_t r0, int64_t r1) { add_bias_rows(yd + r0 * Cout, b, r1 - r0, Cout); },
                       std::max<int64_t>(1, 16384 / Cout));
  }
}

// ---- channel RMS norm

namespace {
// F.normalize's lower bound on the norm: an all-zero pixel stays zero instead of becoming NaN.
constexpr double kMinNorm = 1e-12;

WAN_SIMD_CLONES double sum_squares(const float* x, int64_t n) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  return ss;
}

WAN_SIMD_CLONES void scale_row(const float* x, const float* gamma, double s, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i] * s * gamma[i]);
}
}  // namespace

void CpuBackend::channel_rms_norm(const Tensor& x, const Tensor& gamma, Activation act, Tensor& y) {
  const int64_t C = x.dim(-1), rows = x.numel() / C;
  WAN_CHECK(gamma.numel() == C && y.numel() == x.numel(),
            "channel_rms_norm: gamma " + shape_str(gamma.shape()) + " for " + shape_str(x.shape()));
  const float* xd = x.f32();
  const float* g = gamma.f32();
  float* yd = y.f32();
  const double root_c = std::sqrt(static_cast<double>(C));
  pool_.parallel_for(rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = xd + r * C;
      float* yr = yd + r * C;
      const double norm = std::sqrt(sum_squares(xr, C));
      scale_row(xr, g, root_c / std::max(norm, kMinNorm), yr, C);
      apply_activation(yr, C, act);
    }
  }, std::max<int64_t>(1, 4096 / C));
}

// ---- layout

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
