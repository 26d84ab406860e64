// The image ops of frame interpolation (RIFE's IFNet) on the device, with the arithmetic of
// cpp/backends/cpu/cpu_image.cpp: one thread per output element (or per pixel where a pixel's
// channels share work), grid-stride loops, 64-bit indices. The transposed convolution is a direct
// kernel (each output element sums its taps): RIFE's are 4x4 stride-2 layers with few output
// channels, a small share of the network's work next to its 3x3 convs (conv3d's implicit GEMM).
#include <algorithm>
#include <cstdint>

#include <cuda_runtime.h>

#include "cuda/image/image_kernels.h"

namespace wan::cuda {
namespace image_detail {

constexpr int kThreads = 256;

static unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, int64_t{1} << 20));
}

#define WAN_GRID_STRIDE(i, n)                                                                  \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

__global__ void conv_transpose2d_kernel(const ConvTranspose2dKernelParams p, int64_t Ho, int64_t Wo) {
  const int64_t n_out = int64_t{p.N} * Ho * Wo * p.Cout, K = int64_t{p.kh} * p.kw * p.Cin;
  WAN_GRID_STRIDE(idx, n_out) {
    const int64_t o = idx % p.Cout, q = idx / p.Cout, ow = q % Wo, oh = (q / Wo) % Ho, n = q / (Wo * Ho);
    const int rh = static_cast<int>((oh + p.padding) % p.stride), rw = static_cast<int>((ow + p.padding) % p.stride);
    float acc = 0.0f;
    for (int i = rh; i < p.kh; i += p.stride) {
      const int64_t ih = (oh + p.padding - i) / p.stride;
      if (ih < 0 || ih >= p.H) continue;
      for (int j = rw; j < p.kw; j += p.stride) {
        const int64_t iw = (ow + p.padding - j) / p.stride;
        if (iw < 0 || iw >= p.W) continue;
        const float* xs = p.x + ((n * p.H + ih) * p.W + iw) * p.Cin;
        const float* ws = p.w + o * K + (int64_t{i} * p.kw + j) * p.Cin;
        for (int c = 0; c < p.Cin; ++c) acc += xs[c] * ws[c];
      }
    }
    p.y[idx] = p.bias ? acc + p.bias[o] : acc;
  }
}

// torch's source index for a bilinear resize without aligned corners.
__device__ inline void linear_tap(int64_t d, int64_t in, float scale, int64_t& i0, int64_t& i1, float& l1) {
  float real = scale * (static_cast<float>(d) + 0.5f) - 0.5f;
  real = real < 0.0f ? 0.0f : real;
  i0 = static_cast<int64_t>(real);
  i1 = i0 + (i0 < in - 1 ? 1 : 0);
  l1 = fminf(real - static_cast<float>(i0), 1.0f);
}

__global__ void resize_bilinear_kernel(const ResizeBilinearKernelParams p) {
  const int64_t n_out = int64_t{p.N} * p.Ho * p.Wo * p.C;
  const float sh = static_cast<float>(p.H) / static_cast<float>(p.Ho), sw = static_cast<float>(p.W) / static_cast<float>(p.Wo);
  WAN_GRID_STRIDE(idx, n_out) {
    const int64_t c = idx % p.C, q = idx / p.C, ow = q % p.Wo, oh = (q / p.Wo) % p.Ho, n = q / (int64_t{p.Wo} * p.Ho);
    int64_t h0, h1, w0, w1;
    float lh, lw;
    linear_tap(oh, p.H, sh, h0, h1, lh);
    linear_tap(ow, p.W, sw, w0, w1, lw);
    const float* img = p.x + n * p.H * p.W * p.C + c;
    const float a = img[(h0 * p.W + w0) * p.C], b = img[(h0 * p.W + w1) * p.C];
    const float d = img[(h1 * p.W + w0) * p.C], e = img[(h1 * p.W + w1) * p.C];
    const float hl0 = 1.0f - lh, wl0 = 1.0f - lw;
    p.y[idx] = (hl0 * (wl0 * a + lw * b) + lh * (wl0 * d + lw * e)) * p.multiply;
  }
}

__global__ void warp_kernel(const WarpKernelParams p) {
  const int64_t n_out = int64_t{p.N} * p.H * p.W * p.C;
  const float xmax = static_cast<float>(p.W - 1), ymax = static_cast<float>(p.H - 1);
  WAN_GRID_STRIDE(idx, n_out) {
    const int64_t c = idx % p.C, q = idx / p.C, w = q % p.W, h = (q / p.W) % p.H, n = q / (int64_t{p.W} * p.H);
    const float* f = p.flow + q * p.Cf + p.flow_channel;
    const float ix = fminf(fmaxf(static_cast<float>(w) + f[0], 0.0f), xmax);
    const float iy = fminf(fmaxf(static_cast<float>(h) + f[1], 0.0f), ymax);
    const float fx = floorf(ix), fy = floorf(iy);
    const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
    const float nw = (fx + 1.0f - ix) * (fy + 1.0f - iy), ne = (ix - fx) * (fy + 1.0f - iy);
    const float sw = (fx + 1.0f - ix) * (iy - fy), se = (ix - fx) * (iy - fy);
    const bool in_x = x0 + 1 < p.W, in_y = y0 + 1 < p.H;
    const float* p00 = p.x + ((n * p.H + y0) * p.W + x0) * p.C + c;
    float v = p00[0] * nw;
    if (in_x) v += p00[p.C] * ne;
    if (in_y) v += p00[int64_t{p.W} * p.C] * sw;
    if (in_x && in_y) v += p00[(int64_t{p.W} + 1) * p.C] * se;
    p.y[idx] = v;
  }
}

__global__ void pixel_shuffle_kernel(const PixelShuffleKernelParams p) {
  const int64_t r = p.factor, Ho = int64_t{p.H} * r, Wo = int64_t{p.W} * r;
  const int64_t n_out = int64_t{p.N} * Ho * Wo * p.C;
  WAN_GRID_STRIDE(idx, n_out) {
    const int64_t c = idx % p.C, q = idx / p.C, ow = q % Wo, oh = (q / Wo) % Ho, n = q / (Wo * Ho);
    const int64_t src = ((n * p.H + oh / r) * p.W + ow / r) * (p.C * r * r) + c * r * r + (oh % r) * r + ow % r;
    p.y[idx] = p.x[src];
  }
}

__global__ void leaky_relu_kernel(const LeakyReluKernelParams p) {
  WAN_GRID_STRIDE(i, p.n) {
    float v = p.scale ? p.x[i] * p.scale[i % p.C] : p.x[i];
    if (p.residual) v += p.residual[i];
    p.y[i] = v > 0.0f ? v : v * p.slope;
  }
}

__global__ void copy_channels_kernel(const CopyChannelsKernelParams p) {
  const int64_t n = p.pixels * p.count;
  WAN_GRID_STRIDE(idx, n) {
    const int64_t q = idx / p.count, i = idx % p.count;
    const float v = p.src[q * p.src_channels + p.src_offset + i] * p.scale;
    float* d = p.dst + q * p.dst_channels + p.dst_offset + i;
    *d = p.accumulate ? *d + v : v;
  }
}

__global__ void mask_blend_kernel(const MaskBlendKernelParams p) {
  const int64_t n = p.pixels * p.C;
  WAN_GRID_STRIDE(idx, n) {
    const int64_t q = idx / p.C;
    const float s = 1.0f / (1.0f + expf(-p.mask[q * p.mask_channels + p.mask_channel]));
    p.y[idx] = p.a[idx] * s + p.b[idx] * (1.0f - s);
  }
}

#undef WAN_GRID_STRIDE

template <typename Params, typename Kernel, typename... Extra>
int launch(const Params& p, int64_t n, void* stream, Kernel kernel, Extra... extra) {
  if (image_params_error(p)) return static_cast<int>(cudaErrorInvalidValue);
  if (n == 0) return 0;
  kernel<<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(p, extra...);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace image_detail

using namespace image_detail;

// ---- conv_transpose2d
static int64_t convt_out(int in, int k, int stride, int padding) { return (int64_t{in} - 1) * stride - 2 * padding + k; }

const char* image_params_error(const ConvTranspose2dKernelParams& p) {
  if (p.N < 0 || p.H < 1 || p.W < 1 || p.Cin < 1 || p.Cout < 1) return "conv_transpose2d: sizes must be positive";
  if (p.kh < 1 || p.kw < 1 || p.stride < 1 || p.padding < 0) return "conv_transpose2d: kernel, stride or padding out of range";
  if (convt_out(p.H, p.kh, p.stride, p.padding) < 1 || convt_out(p.W, p.kw, p.stride, p.padding) < 1)
    return "conv_transpose2d: empty output";
  if (p.N > 0 && (!p.x || !p.w || !p.y)) return "conv_transpose2d: x, w or y is null";
  return nullptr;
}

int launch_conv_transpose2d(const ConvTranspose2dKernelParams& p, void* stream) {
  if (image_params_error(p)) return static_cast<int>(cudaErrorInvalidValue);
  const int64_t Ho = convt_out(p.H, p.kh, p.stride, p.padding), Wo = convt_out(p.W, p.kw, p.stride, p.padding);
  return launch(p, int64_t{p.N} * Ho * Wo * p.Cout, stream, conv_transpose2d_kernel, Ho, Wo);
}

// ---- resize_bilinear
const char* image_params_error(const ResizeBilinearKernelParams& p) {
  if (p.N < 0 || p.H < 1 || p.W < 1 || p.C < 1 || p.Ho < 1 || p.Wo < 1) return "resize_bilinear: sizes must be positive";
  if (p.N > 0 && (!p.x || !p.y)) return "resize_bilinear: x or y is null";
  return nullptr;
}

int launch_resize_bilinear(const ResizeBilinearKernelParams& p, void* stream) {
  return launch(p, int64_t{p.N} * p.Ho * p.Wo * p.C, stream, resize_bilinear_kernel);
}

// ---- warp
const char* image_params_error(const WarpKernelParams& p) {
  if (p.N < 0 || p.H < 1 || p.W < 1 || p.C < 1) return "warp: sizes must be positive";
  if (p.flow_channel < 0 || p.flow_channel + 2 > p.Cf) return "warp: flow_channel + 2 exceeds the flow's channels";
  if (p.N > 0 && (!p.x || !p.flow || !p.y)) return "warp: x, flow or y is null";
  if (p.x == p.y) return "warp: y must not alias x";
  return nullptr;
}

int launch_warp(const WarpKernelParams& p, void* stream) {
  return launch(p, int64_t{p.N} * p.H * p.W * p.C, stream, warp_kernel);
}

// ---- pixel_shuffle
const char* image_params_error(const PixelShuffleKernelParams& p) {
  if (p.N < 0 || p.H < 0 || p.W < 0 || p.C < 1 || p.factor < 1) return "pixel_shuffle: sizes must be positive";
  if (int64_t{p.N} * p.H * p.W > 0 && (!p.x || !p.y)) return "pixel_shuffle: x or y is null";
  return nullptr;
}

int launch_pixel_shuffle(const PixelShuffleKernelParams& p, void* stream) {
  const int64_t r = p.factor;
  return launch(p, int64_t{p.N} * p.H * r * p.W * r * p.C, stream, pixel_shuffle_kernel);
}

// ---- leaky_relu
const char* image_params_error(const LeakyReluKernelParams& p) {
  if (p.n < 0 || p.C < 1 || p.n % p.C != 0) return "leaky_relu: n must be a whole number of rows of C";
  if (p.n > 0 && (!p.x || !p.y)) return "leaky_relu: x or y is null";
  return nullptr;
}

int launch_leaky_relu(const LeakyReluKernelParams& p, void* stream) { return launch(p, p.n, stream, leaky_relu_kernel); }

// ---- copy_channels
const char* image_params_error(const CopyChannelsKernelParams& p) {
  if (p.pixels < 0 || p.count < 0 || p.src_offset < 0 || p.dst_offset < 0) return "copy_channels: negative size or offset";
  if (p.src_offset + p.count > p.src_channels || p.dst_offset + p.count > p.dst_channels)
    return "copy_channels: offset + count exceeds the channels";
  if (p.pixels * p.count > 0 && (!p.src || !p.dst)) return "copy_channels: src or dst is null";
  return nullptr;
}

int launch_copy_channels(const CopyChannelsKernelParams& p, void* stream) {
  return launch(p, p.pixels * p.count, stream, copy_channels_kernel);
}

// ---- mask_blend
const char* image_params_error(const MaskBlendKernelParams& p) {
  if (p.pixels < 0 || p.C < 1 || p.mask_channel < 0 || p.mask_channel >= p.mask_channels) return "mask_blend: sizes or mask_channel";
  if (p.pixels > 0 && (!p.a || !p.b || !p.mask || !p.y)) return "mask_blend: a null pointer";
  return nullptr;
}

int launch_mask_blend(const MaskBlendKernelParams& p, void* stream) {
  return launch(p, p.pixels * p.C, stream, mask_blend_kernel);
}

}  // namespace wan::cuda
