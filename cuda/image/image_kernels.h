#pragma once
// The contract between the CUDA backend and the image kernels of frame interpolation (RIFE's IFNet).
// Plain parameter structs and launchers, no CUDA headers: streams travel as `void*` (a cudaStream_t,
// null = the legacy default stream), results are cudaError_t values as int (0 = success), device
// memory is plain pointers. Images are float32 and channels-last, [N, H, W, C], contiguous, exactly
// as the CPU backend (cpp/backends/cpu/cpu_image.cpp) and the comments of cpp/ops/backend.h define
// them. Every launcher first checks its parameters; `image_params_error(p)` says why they are
// refused (a message naming the field) or returns nullptr. A refused launch returns
// cudaErrorInvalidValue (1) and enqueues nothing; an empty output is a successful no-op.
#include <cstdint>

namespace wan::cuda {

// ---- ConvTranspose2d: y [N, Ho, Wo, Cout] = sum over taps (i, j) and channels c of
// x[n, ih, iw, c] * w[o, (i*kw + j)*Cin + c] + bias[o], where oh = ih*stride - padding + i (likewise
// for ow); Ho = (H - 1) * stride - 2 * padding + kh. w float32 [Cout, kh*kw*Cin] (taps major).
struct ConvTranspose2dKernelParams {
  const float* x = nullptr;
  const float* w = nullptr;
  const float* bias = nullptr;  // [Cout] or null
  float* y = nullptr;           // must not overlap x
  int N = 0, H = 0, W = 0, Cin = 0, Cout = 0;
  int kh = 4, kw = 4, stride = 2, padding = 1;
};

const char* image_params_error(const ConvTranspose2dKernelParams& p);
int launch_conv_transpose2d(const ConvTranspose2dKernelParams& p, void* stream);

// ---- bilinear resize (torch's upsample_bilinear2d, align_corners=False, source scale H/Ho):
// y [N, Ho, Wo, C] = multiply * resize(x [N, H, W, C]).
struct ResizeBilinearKernelParams {
  const float* x = nullptr;
  float* y = nullptr;  // must not overlap x
  int N = 0, H = 0, W = 0, C = 0, Ho = 0, Wo = 0;
  float multiply = 1.0f;
};

const char* image_params_error(const ResizeBilinearKernelParams& p);
int launch_resize_bilinear(const ResizeBilinearKernelParams& p, void* stream);

// ---- backward warp: y[n, h, w, c] = x[n] sampled bilinearly at (w + flow[n, h, w, fc],
// h + flow[n, h, w, fc + 1]), the coordinates clamped to [0, W-1] x [0, H-1] (grid_sample,
// align_corners=True, padding_mode='border'). flow [N, H, W, Cf].
struct WarpKernelParams {
  const float* x = nullptr;
  const float* flow = nullptr;
  float* y = nullptr;  // must not overlap x
  int N = 0, H = 0, W = 0, C = 0, Cf = 0, flow_channel = 0;
};

const char* image_params_error(const WarpKernelParams& p);
int launch_warp(const WarpKernelParams& p, void* stream);

// ---- PixelShuffle(r): x [N, H, W, C*r*r] -> y [N, H*r, W*r, C]; input channel c*r*r + i*r + j
// goes to pixel (h*r + i, w*r + j), channel c.
struct PixelShuffleKernelParams {
  const float* x = nullptr;
  float* y = nullptr;  // must not overlap x
  int N = 0, H = 0, W = 0, C = 0, factor = 2;  // C: output channels
};

const char* image_params_error(const PixelShuffleKernelParams& p);
int launch_pixel_shuffle(const PixelShuffleKernelParams& p, void* stream);

// ---- y = leaky_relu(x * scale[c] + residual, slope) over n elements of rows of C channels; scale
// and residual may be null; y may alias x (and residual).
struct LeakyReluKernelParams {
  const float* x = nullptr;
  const float* scale = nullptr;     // [C]
  const float* residual = nullptr;  // [n]
  float* y = nullptr;
  int64_t n = 0;
  int C = 1;
  float slope = 0.2f;
};

const char* image_params_error(const LeakyReluKernelParams& p);
int launch_leaky_relu(const LeakyReluKernelParams& p, void* stream);

// ---- dst[q, dst_offset + i] (+)= scale * src[q, src_offset + i] for q < pixels, i < count.
struct CopyChannelsKernelParams {
  const float* src = nullptr;
  float* dst = nullptr;  // must not overlap src
  int64_t pixels = 0;
  int src_channels = 0, dst_channels = 0, src_offset = 0, dst_offset = 0, count = 0;
  float scale = 1.0f;
  bool accumulate = false;
};

const char* image_params_error(const CopyChannelsKernelParams& p);
int launch_copy_channels(const CopyChannelsKernelParams& p, void* stream);

// ---- y = a * s + b * (1 - s), s = sigmoid(mask[q, mask_channel]) per pixel q; a, b, y [pixels, C].
struct MaskBlendKernelParams {
  const float* a = nullptr;
  const float* b = nullptr;
  const float* mask = nullptr;
  float* y = nullptr;
  int64_t pixels = 0;
  int C = 0, mask_channels = 1, mask_channel = 0;
};

const char* image_params_error(const MaskBlendKernelParams& p);
int launch_mask_blend(const MaskBlendKernelParams& p, void* stream);

}  // namespace wan::cuda
