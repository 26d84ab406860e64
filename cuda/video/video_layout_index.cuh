#pragma once
// Per-output-element index math of the layout kernels (video_layout.cu), __host__ __device__ so the
// test program runs every kernel's exact arithmetic on the host, where there is no GPU, against
// its own reference. Output element i is always the i-th element of the contiguous output.
#include <cstdint>

#include <cuda_runtime.h>

#include "cuda/video/video_kernels.h"

namespace wan::cuda::video_detail {

// upsample_nearest_2x in units of V (float or float4): CV = channels / (floats per V).
// Output pixel (t, h2, w2) reads input pixel (t, h2 / 2, w2 / 2).
__host__ __device__ __forceinline__ int64_t upsample_source(int64_t i, int64_t H, int64_t W, int64_t CV) {
  const int64_t c = i % CV, pix = i / CV;
  const int64_t w2 = pix % (2 * W), th2 = pix / (2 * W);
  const int64_t h2 = th2 % (2 * H), t = th2 / (2 * H);
  return ((t * H + h2 / 2) * W + w2 / 2) * CV + c;
}

// permute: output coordinates by out_dim (last fastest); source = sum coord_d * src_stride[d].
struct PermuteArgs {
  int64_t out_dim[8];
  int64_t src_stride[8];
  int64_t n;
  int rank;
  bool vec4;  // elements are float4s: the last dim stays last and is a multiple of 4
};

// Host only, for parameters video_params_error accepted; `aligned` = x and y 16-byte aligned.
inline PermuteArgs make_permute_args(const PermuteKernelParams& p, bool aligned) {
  const int r = p.rank;
  int64_t in_stride[8];
  in_stride[r - 1] = 1;
  for (int i = r - 2; i >= 0; --i) in_stride[i] = in_stride[i + 1] * p.dims[i + 1];
  PermuteArgs a{};
  a.rank = r;
  a.n = 1;
  for (int i = 0; i < r; ++i) {
    a.out_dim[i] = p.dims[p.perm[i]];
    a.src_stride[i] = in_stride[p.perm[i]];
    a.n *= a.out_dim[i];
  }
  // The VAE's frame interleave [T,H,W,2,C] -> [T,2,H,W,C] keeps whole pixels: move float4s. Every
  // other stride is a multiple of the last dim, hence of 4.
  a.vec4 = aligned && p.perm[r - 1] == r - 1 && p.dims[r - 1] % 4 == 0;
  if (a.vec4) {
    a.out_dim[r - 1] /= 4;
    for (int i = 0; i < r - 1; ++i) a.src_stride[i] /= 4;
    a.n /= 4;
  }
  return a;
}

__host__ __device__ __forceinline__ int64_t permute_source(int64_t i, const PermuteArgs& a) {
  int64_t rest = i, src = 0;
  for (int d = a.rank - 1; d >= 0; --d) {
    src += (rest % a.out_dim[d]) * a.src_stride[d];
    rest /= a.out_dim[d];
  }
  return src;
}

// avg_down_3d: output (to, ho, wo, o) averages folded channels j in [o*group, (o+1)*group),
// j = c * factor + (dt*fs + dh)*fs + dw, read from frame to*ft + dt - pad (zero when negative).
// The sum runs in the CPU backend's order.
struct AvgDownArgs {
  int64_t To, Ho, Wo;
  int pad, group;
  float inv;  // 1 / group
};

inline AvgDownArgs make_avg_down_args(const SpaceTimeKernelParams& p) {
  AvgDownArgs a{};
  a.pad = (p.factor_t - p.T % p.factor_t) % p.factor_t;
  a.To = (p.T + a.pad) / p.factor_t;
  a.Ho = p.H / p.factor_s;
  a.Wo = p.W / p.factor_s;
  a.group = static_cast<int>(int64_t{p.Cin} * p.factor_t * p.factor_s * p.factor_s / p.Cout);
  a.inv = 1.0f / static_cast<float>(a.group);
  return a;
}

__host__ __device__ __forceinline__ float avg_down_sum(const SpaceTimeKernelParams& p, const AvgDownArgs& a,
                                                       int64_t i) {
  const int64_t ft = p.factor_t, fs = p.factor_s, factor = ft * fs * fs;
  const int64_t o = i % p.Cout, q = i / p.Cout;
  const int64_t wo = q % a.Wo, ho = (q / a.Wo) % a.Ho, to = q / (a.Wo * a.Ho);
  float sum = 0.0f;
  for (int64_t j = o * a.group; j < (o + 1) * a.group; ++j) {
    const int64_t c = j / factor, sub = j % factor;
    const int64_t dt = sub / (fs * fs), dh = (sub / fs) % fs, dw = sub % fs;
    const int64_t t = to * ft + dt - a.pad;
    if (t >= 0) sum += p.x[((t * p.H + ho * fs + dh) * p.W + wo * fs + dw) * p.Cin + c];
  }
  return sum;
}

// dup_up_3d: output (tq - drop, hq, wq, o) reads input pixel (tq/ft, hq/fs, wq/fs), channel
// (o * factor + sub) / repeats with sub = ((tq%ft)*fs + hq%fs)*fs + wq%fs.
__host__ __device__ __forceinline__ int64_t dup_up_source(const SpaceTimeKernelParams& p, int64_t Ho, int64_t Wo,
                                                          int repeats, int64_t i) {
  const int64_t ft = p.factor_t, fs = p.factor_s, factor = ft * fs * fs;
  const int64_t o = i % p.Cout, q = i / p.Cout;
  const int64_t wq = q % Wo, hq = (q / Wo) % Ho, tq = q / (Wo * Ho) + p.drop_frames;
  const int64_t sub = ((tq % ft) * fs + hq % fs) * fs + wq % fs;
  return (((tq / ft) * p.H + hq / fs) * p.W + wq / fs) * p.Cin + (o * factor + sub) / repeats;
}

}  // namespace wan::cuda::video_detail
