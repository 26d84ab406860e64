#pragma once
// The contract between the CUDA backend and the video (VAE) kernels of cuda/video/. Plain parameter
// structs and launchers, no CUDA headers: streams travel as `void*` (a cudaStream_t, null = the legacy
// default stream), results are cudaError_t values as int (0 = success), device memory is plain
// pointers. Activations are float32 and channels-last, [T, H, W, C] per video, contiguous, exactly as
// the CPU backend (cpp/backends/cpu/cpu_video.cpp) and the comments of cpp/ops/backend.h define them.
// bf16 values are uint16_t bit patterns.
//
// Every launcher first checks its parameters; `video_params_error(p)` says why they are refused
// (a message naming the field) or returns nullptr, so the backend can raise wan::fail("E_...", msg)
// before launching. A refused launch returns cudaErrorInvalidValue (1) and enqueues nothing. An
// empty output is a successful no-op.
#include <cstdint>

namespace wan::cuda {

// ---- conv3d: the causal 3-D convolution as an implicit GEMM on tensor cores (sm_80+)
//
// y[To, Ho, Wo, Cout] (+)= conv over the frame sequence (pad_front zero frames, the P frames of
// `past`, the T frames of `x`) + bias, with
//   To = (pad_front + P + T - kt) / stride_t + 1
//   Ho = (H + pad_top + pad_bottom - kh) / stride_h + 1,  Wo likewise with W, pad_left/right, kw.
// Weight layout (what the CPU backend's ConvW packing produces, stored bf16): row-major
// [Cout, w_ld] with w_ld >= K = kt*kh*kw*Cin; row o, column ((dt*kh + dh)*kw + dw)*Cin + c holds
// torch weight[o, c, dt, dh, dw] (taps major, channels minor). w_ld == K is the plain packing.
// Rows are copied 16 bytes at a time when w_ld % 8 == 0 and `w` is 16-byte aligned; pad rows to a
// multiple of 8 (w_ld = round_up(K, 8)) to get that path for every Cin, and then the padding
// columns [K, w_ld) MUST hold zeros (finite values are multiplied by zero activations; zeros keep
// that obviously harmless). Other w_ld work too, element by element.
// Bias: float32 [Cout] (bias_f32) or bf16 [Cout] (bias_bf16) or neither; not both.
// The activations are rounded to bf16 as they enter the tensor cores; products accumulate in f32.
struct Conv3dKernelParams {
  const float* x = nullptr;  // [T, H, W, Cin]
  const float* past = nullptr;  // [P, H, W, Cin], may be null when P == 0
  const uint16_t* w = nullptr;  // bf16 [Cout, w_ld]
  const float* bias_f32 = nullptr;
  const uint16_t* bias_bf16 = nullptr;
  float* y = nullptr;  // [To, Ho, Wo, Cout]; read too when accumulate; must not overlap x or past
  int T = 0, P = 0, H = 0, W = 0, Cin = 0, Cout = 0;
  int64_t w_ld = 0;  // 0 means K
  int kt = 1, kh = 1, kw = 1;
  int stride_t = 1, stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int pad_front = 0;        // zero frames before `past`: taps into them contribute nothing
  bool accumulate = false;  // y += conv + bias instead of y = conv + bias
};

inline int conv3d_out_frames(const Conv3dKernelParams& p) {
  return (p.pad_front + p.P + p.T - p.kt) / p.stride_t + 1;
}
inline int conv3d_out_height(const Conv3dKernelParams& p) {
  return (p.H + p.pad_top + p.pad_bottom - p.kh) / p.stride_h + 1;
}
inline int conv3d_out_width(const Conv3dKernelParams& p) {
  return (p.W + p.pad_left + p.pad_right - p.kw) / p.stride_w + 1;
}

const char* video_params_error(const Conv3dKernelParams& p);
int launch_conv3d(const Conv3dKernelParams& p, void* stream);

// ---- channel RMS norm (the Wan VAE's): y = act(x / max(|x|_2, 1e-12) * sqrt(C) * gamma) over the
// last dim C of `rows` rows. y may alias x. gamma float32 or bf16 [C] (exactly one of them).
struct ChannelRmsNormKernelParams {
  const float* x = nullptr;
  float* y = nullptr;
  const float* gamma_f32 = nullptr;
  const uint16_t* gamma_bf16 = nullptr;
  int64_t rows = 0;
  int C = 0;
  bool silu = false;  // y = v / (1 + exp(-v)) after the scaling (the CPU backend's Activation::Silu)
};

const char* video_params_error(const ChannelRmsNormKernelParams& p);
int launch_channel_rms_norm(const ChannelRmsNormKernelParams& p, void* stream);

// ---- nearest 2x upsampling: [T, H, W, C] -> [T, 2H, 2W, C], each pixel repeated 2x2. y must not
// overlap x.
struct Upsample2xKernelParams {
  const float* x = nullptr;
  float* y = nullptr;
  int T = 0, H = 0, W = 0, C = 0;
};

const char* video_params_error(const Upsample2xKernelParams& p);
int launch_upsample_nearest_2x(const Upsample2xKernelParams& p, void* stream);

// ---- permute: y = x.permute(perm) made contiguous; x is contiguous with dims[0..rank). Output dim
// i is input dim perm[i]. y must not overlap x.
struct PermuteKernelParams {
  const float* x = nullptr;
  float* y = nullptr;
  int rank = 0;
  int64_t dims[8] = {};
  int perm[8] = {};
};

const char* video_params_error(const PermuteKernelParams& p);
int launch_permute(const PermuteKernelParams& p, void* stream);

// ---- Wan2.2's parameter-free space/time shortcuts (cpp/ops/backend.h, SpaceTimeParams).
// avg_down_3d: x [T, H, W, Cin] -> y [ceil(T/ft), H/fs, W/fs, Cout]: time padded with leading zero
// frames to a multiple of ft, each ft*fs*fs block folded into channels (c, t, h, w order) and averaged
// in groups of Cin*ft*fs*fs/Cout (which must be whole).
// dup_up_3d: x [T, H, W, Cin] -> y [T*ft - drop_frames, H*fs, W*fs, Cout]: each channel repeated
// Cout*ft*fs*fs/Cin times (which must be whole), then unfolded into time and space.
// y must not overlap x; with accumulate, y += result.
struct SpaceTimeKernelParams {
  const float* x = nullptr;
  float* y = nullptr;
  int T = 0, H = 0, W = 0, Cin = 0, Cout = 0;
  int factor_t = 1, factor_s = 1;
  int drop_frames = 0;  // dup_up_3d only
  bool accumulate = false;
};

const char* video_params_error_avg_down(const SpaceTimeKernelParams& p);
const char* video_params_error_dup_up(const SpaceTimeKernelParams& p);
int launch_avg_down_3d(const SpaceTimeKernelParams& p, void* stream);
int launch_dup_up_3d(const SpaceTimeKernelParams& p, void* stream);

}  // namespace wan::cuda
