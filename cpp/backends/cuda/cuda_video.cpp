// The VAE's ops on the kernels of cuda/video/ (video_kernels.h): conv3d as an implicit GEMM on
// tensor cores with bf16 weights, the channel RMS norm, nearest upsampling, permute and Wan2.2's
// space/time shortcuts. Without those kernels in the build (WAN_HAVE_VIDEO_KERNELS unset) these
// ops fail with E_DEVICE naming the op.
#include <string>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_error.h"
#include "cuda/kernels/elementwise.h"

#ifdef WAN_HAVE_VIDEO_KERNELS
#include "cuda/video/video_kernels.h"
#endif

namespace wan::cuda {

#ifndef WAN_HAVE_VIDEO_KERNELS
namespace {
[[noreturn]] void not_built(const char* op) {
  fail("E_DEVICE", std::string(op) + ": the CUDA video kernels (cuda/video/) are not part of this build");
}
}  // namespace
#endif

void CudaBackend::conv3d(const Tensor& x, const Tensor* past, const Tensor& w, const Tensor* bias,
                         const Conv3dParams& cp, Tensor& y) {
  const char* op = "conv3d";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  require_cuda(w, op, "weight");
  if (past) require_device_f32(*past, op, "past");
  if (bias) require_device_f32(*bias, op, "bias");
  WAN_CHECK(x.rank() == 4, "conv3d: input " + shape_str(x.shape()) + " is not [T, H, W, C]");
  const int64_t T = x.dim(0), H = x.dim(1), W = x.dim(2), Cin = x.dim(3), P = past ? past->dim(0) : 0;
  WAN_CHECK(!past || (past->rank() == 4 && past->dim(1) == H && past->dim(2) == W && past->dim(3) == Cin),
            "conv3d: past frames " + (past ? shape_str(past->shape()) : std::string()) + " for input " +
                shape_str(x.shape()));
  const int64_t K = int64_t{cp.kt} * cp.kh * cp.kw * Cin, Cout = w.dim(0);
  WAN_CHECK(w.rank() == 2 && w.dim(1) == K, "conv3d: weight " + shape_str(w.shape()) + " for K = " + std::to_string(K));
  WAN_CHECK(!bias || bias->numel() == Cout, "conv3d: bias size");
  WAN_CHECK(cp.kt > 0 && cp.kh > 0 && cp.kw > 0 && cp.stride_t > 0 && cp.stride_h > 0 && cp.stride_w > 0,
            "conv3d: kernel sizes and strides must be positive");
  // The weight is read as float32 or bf16 values as they are: a scaled or narrower stored type
  // (fp8, block formats) would be read wrong, silently. The VAE and RIFE load theirs as float32.
  WAN_CHECK((w.dtype() == DType::F32 || w.dtype() == DType::BF16) && w.scale() == 1.0f,
            std::string("conv3d: weight stored as ") + dtype_name(w.dtype()) + " with scale " + std::to_string(w.scale()) +
                "; convolutions take float32 or bf16 weights without a scale");
  WAN_CHECK(cp.pad_front >= 0 && cp.pad_front + P + T >= cp.kt, "conv3d: fewer frames than the kernel");
  const int64_t To = (cp.pad_front + P + T - cp.kt) / cp.stride_t + 1;
  const int64_t Ho = (H + cp.pad_top + cp.pad_bottom - cp.kh) / cp.stride_h + 1;
  const int64_t Wo = (W + cp.pad_left + cp.pad_right - cp.kw) / cp.stride_w + 1;
  WAN_CHECK(y.shape() == Shape({To, Ho, Wo, Cout}),
            "conv3d: output " + shape_str(y.shape()) + ", expected " + shape_str({To, Ho, Wo, Cout}));
  enter();
#ifdef WAN_HAVE_VIDEO_KERNELS
  // The kernel reads bf16 weight rows 16 bytes at a time when they are a multiple of 8 long;
  // float32 weights (the VAE packs its conv weights on the device in float32) and odd row lengths
  // are repacked per call: a few MiB against the conv's gigaflops.
  Tensor wpad;
  const uint16_t* wb = nullptr;
  int64_t w_ld = K;
  if (w.dtype() == DType::BF16 && K % 8 == 0 && reinterpret_cast<uintptr_t>(w.raw()) % 16 == 0) {
    wb = w.data<uint16_t>();
  } else {
    wpad = to_bf16_padded(w, Cout, K, &w_ld, op);
    wb = wpad.data<uint16_t>();
  }
  Conv3dKernelParams p;
  p.x = x.f32();
  p.past = past && P ? past->f32() : nullptr;
  p.w = wb;
  p.bias_f32 = bias ? bias->f32() : nullptr;
  p.y = y.f32();
  p.T = to_int(T, op, "frames");
  p.P = to_int(P, op, "past frames");
  p.H = to_int(H, op, "height");
  p.W = to_int(W, op, "width");
  p.Cin = to_int(Cin, op, "input channels");
  p.Cout = to_int(Cout, op, "output channels");
  p.w_ld = w_ld;
  p.kt = cp.kt;
  p.kh = cp.kh;
  p.kw = cp.kw;
  p.stride_t = cp.stride_t;
  p.stride_h = cp.stride_h;
  p.stride_w = cp.stride_w;
  p.pad_top = cp.pad_top;
  p.pad_bottom = cp.pad_bottom;
  p.pad_left = cp.pad_left;
  p.pad_right = cp.pad_right;
  p.pad_front = cp.pad_front;
  p.accumulate = cp.accumulate;
  refuse_if(video_params_error(p), op);
  check_status(launch_conv3d(p, stream_), op);
  after(op);
#else
  not_built(op);
#endif
}

void CudaBackend::channel_rms_norm(const Tensor& x, const Tensor& gamma, Activation act, Tensor& y) {
  const char* op = "channel_rms_norm";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  require_device_f32(gamma, op, "gamma");
  const int64_t C = x.dim(-1);
  WAN_CHECK(gamma.numel() == C && y.numel() == x.numel(),
            "channel_rms_norm: gamma " + shape_str(gamma.shape()) + " for " + shape_str(x.shape()));
  WAN_CHECK(act == Activation::None || act == Activation::Silu, "channel_rms_norm: activation must be none or silu");
  enter();
#ifdef WAN_HAVE_VIDEO_KERNELS
  ChannelRmsNormKernelParams p;
  p.x = x.f32();
  p.y = y.f32();
  p.gamma_f32 = gamma.f32();
  p.rows = C ? x.numel() / C : 0;
  p.C = to_int(C, op, "channels");
  p.silu = act == Activation::Silu;
  refuse_if(video_params_error(p), op);
  check_status(launch_channel_rms_norm(p, stream_), op);
  after(op);
#else
  not_built(op);
#endif
}

void CudaBackend::upsample_nearest_2x(const Tensor& x, Tensor& y) {
  const char* op = "upsample_nearest_2x";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  WAN_CHECK(x.rank() == 4, "upsample_nearest_2x: input " + shape_str(x.shape()));
  WAN_CHECK(y.shape() == Shape({x.dim(0), 2 * x.dim(1), 2 * x.dim(2), x.dim(3)}),
            "upsample_nearest_2x: output " + shape_str(y.shape()));
  enter();
#ifdef WAN_HAVE_VIDEO_KERNELS
  Upsample2xKernelParams p;
  p.x = x.f32();
  p.y = y.f32();
  p.T = to_int(x.dim(0), op, "frames");
  p.H = to_int(x.dim(1), op, "height");
  p.W = to_int(x.dim(2), op, "width");
  p.C = to_int(x.dim(3), op, "channels");
  refuse_if(video_params_error(p), op);
  check_status(launch_upsample_nearest_2x(p, stream_), op);
  after(op);
#else
  not_built(op);
#endif
}

void CudaBackend::permute(const Tensor& x, const PermuteParams& pp, Tensor& y) {
  const char* op = "permute";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  WAN_CHECK(pp.rank >= 1 && pp.rank <= 8 && x.rank() == pp.rank && y.numel() == x.numel(),
            "permute: rank " + std::to_string(pp.rank) + " for " + shape_str(x.shape()));
  enter();
#ifdef WAN_HAVE_VIDEO_KERNELS
  PermuteKernelParams p;
  p.x = x.f32();
  p.y = y.f32();
  p.rank = pp.rank;
  for (int i = 0; i < pp.rank; ++i) {
    p.dims[i] = x.dim(i);
    p.perm[i] = pp.perm[i];
  }
  refuse_if(video_params_error(p), op);
  check_status(launch_permute(p, stream_), op);
  after(op);
#else
  not_built(op);
#endif
}

#ifdef WAN_HAVE_VIDEO_KERNELS
// The kernel parameters avg_down_3d and dup_up_3d share: [T, H, W, C] frames in and out.
static SpaceTimeKernelParams space_time_params(const Tensor& x, Tensor& y, const SpaceTimeParams& sp, const char* op) {
  SpaceTimeKernelParams p;
  p.x = x.f32();
  p.y = y.f32();
  p.T = to_int(x.dim(0), op, "frames");
  p.H = to_int(x.dim(1), op, "height");
  p.W = to_int(x.dim(2), op, "width");
  p.Cin = to_int(x.dim(3), op, "input channels");
  p.Cout = to_int(y.dim(3), op, "output channels");
  p.factor_t = sp.factor_t;
  p.factor_s = sp.factor_s;
  p.drop_frames = sp.drop_frames;
  p.accumulate = sp.accumulate;
  return p;
}
#endif

void CudaBackend::avg_down_3d(const Tensor& x, const SpaceTimeParams& sp, Tensor& y) {
  const char* op = "avg_down_3d";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  WAN_CHECK(x.rank() == 4 && y.rank() == 4, "avg_down_3d: " + shape_str(x.shape()) + " -> " + shape_str(y.shape()));
  enter();
#ifdef WAN_HAVE_VIDEO_KERNELS
  SpaceTimeKernelParams p = space_time_params(x, y, sp, op);
  const int64_t ft = sp.factor_t, fs = sp.factor_s;
  WAN_CHECK(ft > 0 && fs > 0 && y.shape() == Shape({(x.dim(0) + ft - 1) / ft, x.dim(1) / fs, x.dim(2) / fs, y.dim(3)}),
            "avg_down_3d: " + shape_str(x.shape()) + " -> " + shape_str(y.shape()));
  refuse_if(video_params_error_avg_down(p), op);
  check_status(launch_avg_down_3d(p, stream_), op);
  after(op);
#else
  (void)sp;
  not_built(op);
#endif
}

void CudaBackend::dup_up_3d(const Tensor& x, const SpaceTimeParams& sp, Tensor& y) {
  const char* op = "dup_up_3d";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  WAN_CHECK(x.rank() == 4 && y.rank() == 4, "dup_up_3d: " + shape_str(x.shape()) + " -> " + shape_str(y.shape()));
  enter();
#ifdef WAN_HAVE_VIDEO_KERNELS
  SpaceTimeKernelParams p = space_time_params(x, y, sp, op);
  const int64_t ft = sp.factor_t, fs = sp.factor_s;
  WAN_CHECK(ft > 0 && fs > 0 && y.shape() == Shape({x.dim(0) * ft - sp.drop_frames, x.dim(1) * fs, x.dim(2) * fs, y.dim(3)}),
            "dup_up_3d: " + shape_str(x.shape()) + " -> " + shape_str(y.shape()));
  refuse_if(video_params_error_dup_up(p), op);
  check_status(launch_dup_up_3d(p, stream_), op);
  after(op);
#else
  (void)sp;
  not_built(op);
#endif
}

}  // namespace wan::cuda
