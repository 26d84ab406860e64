// conv3d on channels-last frames: im2col of a tile of output pixels of one output frame, then one
// GEMM per tile. The patch matrix never holds more than a tile, whatever the video's length or size.
#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_math.h"
#include "core/error.h"

namespace wan::cpu {

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

}  // namespace wan::cpu
