#pragma once
// The implicit GEMM's index math, in one place and __host__ __device__ so that the test program
// checks it against a plain im2col on the host, where no GPU is needed:
//   row m of A   = output pixel (to, ho, wo), m = (to*Ho + ho)*Wo + wo (y's own row order);
//   column k     = ((dt*kh + dh)*kw + dw)*Cin + c (the packed weight's column);
//   A[m, k]      = sequence frame s = to*stride_t + dt of (pad_front zeros, past, x), at pixel
//                  (ho*stride_h - pad_top + dh, wo*stride_w - pad_left + dw), channel c; zero
//                  outside the frame and in the zero frames.
#include <climits>
#include <cstdint>

#include <cuda_runtime.h>

#include "cuda/video/video_kernels.h"

namespace wan::cuda::video_detail {

struct ConvArgs {
  const float* x;     // never null (the zero-fill copies name it when they read nothing)
  const float* past;  // null when P == 0
  const uint16_t* w;
  const float* bias_f32;
  const uint16_t* bias_bf16;
  float* y;
  int64_t frame_elems;  // H * W * Cin
  int64_t w_ld;
  int H, W, Cin, Cout, P, Z;  // Z = pad_front
  int K, kw, khw;             // khw = kh * kw, taps per frame
  int M, HoWo, Wo;
  int stride_t, stride_h, stride_w, pad_top, pad_left;
  int n_tiles, k_tiles;
  bool accumulate, pair_store;
};

// Host only: the arguments of a problem `video_params_error` accepted (tile fields left to the
// launcher).
inline ConvArgs make_conv_args(const Conv3dKernelParams& p) {
  ConvArgs a{};
  const int Ho = conv3d_out_height(p), Wo = conv3d_out_width(p);
  a.x = p.T > 0 ? p.x : (p.past ? p.past : p.y);
  a.past = p.P > 0 ? p.past : nullptr;
  a.w = p.w;
  a.bias_f32 = p.bias_f32;
  a.bias_bf16 = p.bias_bf16;
  a.y = p.y;
  a.frame_elems = int64_t{p.H} * p.W * p.Cin;
  a.K = p.kt * p.kh * p.kw * p.Cin;
  a.w_ld = p.w_ld ? p.w_ld : a.K;
  a.H = p.H;
  a.W = p.W;
  a.Cin = p.Cin;
  a.Cout = p.Cout;
  a.P = p.P;
  a.Z = p.pad_front;
  a.kw = p.kw;
  a.khw = p.kh * p.kw;
  a.HoWo = Ho * Wo;
  a.Wo = Wo;
  a.M = conv3d_out_frames(p) * a.HoWo;
  a.stride_t = p.stride_t;
  a.stride_h = p.stride_h;
  a.stride_w = p.stride_w;
  a.pad_top = p.pad_top;
  a.pad_left = p.pad_left;
  a.accumulate = p.accumulate;
  return a;
}

// Where row m's receptive field starts: {first sequence frame, top input row, left input column}.
// Rows past M start so far before the sequence that every tap lands in "the zero frames".
__host__ __device__ __forceinline__ int4 conv_row_origin(const ConvArgs& a, int m) {
  if (m >= a.M) return make_int4(INT_MIN / 2, 0, 0, 0);
  const int to = m / a.HoWo, rem = m - to * a.HoWo;
  const int ho = rem / a.Wo, wo = rem - ho * a.Wo;
  return make_int4(to * a.stride_t, ho * a.stride_h - a.pad_top, wo * a.stride_w - a.pad_left, 0);
}

// Column k's tap (dt, dh, dw) and channel c; k >= K (the zero tail of the last K step) gives
// ok = false.
struct ConvTap {
  int dt, dh, dw, c;
  bool ok;
};

__host__ __device__ __forceinline__ ConvTap conv_tap(const ConvArgs& a, int k) {
  ConvTap t{0, 0, 0, 0, k < a.K};
  if (t.ok) {
    const int tap = k / a.Cin;
    t.c = k - tap * a.Cin;
    t.dt = tap / a.khw;
    const int plane = tap - t.dt * a.khw;
    t.dh = plane / a.kw;
    t.dw = plane - t.dh * a.kw;
  }
  return t;
}

// The address of A[m, k] given row m's origin and column k's tap, or null where A is zero.
// Channels c..Cin-1 of that pixel follow it contiguously.
__host__ __device__ __forceinline__ const float* conv_source(const ConvArgs& a, int4 origin, const ConvTap& t) {
  const int s = origin.x + t.dt, hi = origin.y + t.dh, wi = origin.z + t.dw;
  if (!t.ok || s < a.Z || hi < 0 || hi >= a.H || wi < 0 || wi >= a.W) return nullptr;
  const int f = s - a.Z;  // frame of past ++ x
  const float* frame = f < a.P ? a.past + f * a.frame_elems : a.x + (f - a.P) * a.frame_elems;
  return frame + (static_cast<int64_t>(hi) * a.W + wi) * a.Cin + t.c;
}

}  // namespace wan::cuda::video_detail
