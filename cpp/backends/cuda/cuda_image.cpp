// The image ops of frame interpolation (RIFE) on the kernels of cuda/image/ (image_kernels.h):
// shapes are checked here as the CPU backend checks them, the kernels check their parameters.
#include <string>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_error.h"
#include "cuda/image/image_kernels.h"

namespace wan::cuda {

void CudaBackend::conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvTranspose2dParams& cp,
                                   Tensor& y) {
  const char* op = "conv_transpose2d";
  require_device_f32(x, op, "x");
  require_device_f32(w, op, "weight");
  require_device_f32(y, op, "y");
  if (bias) require_device_f32(*bias, op, "bias");
  WAN_CHECK(x.rank() == 4 && y.rank() == 4, "conv_transpose2d: " + shape_str(x.shape()) + " -> " + shape_str(y.shape()));
  const int64_t Cin = x.dim(3), Cout = w.dim(0);
  WAN_CHECK(w.rank() == 2 && w.dim(1) == int64_t{cp.kh} * cp.kw * Cin, "conv_transpose2d: weight " + shape_str(w.shape()));
  WAN_CHECK(!bias || bias->numel() == Cout, "conv_transpose2d: bias");
  const int64_t Ho = (x.dim(1) - 1) * cp.stride - 2 * cp.padding + cp.kh, Wo = (x.dim(2) - 1) * cp.stride - 2 * cp.padding + cp.kw;
  WAN_CHECK(y.shape() == Shape({x.dim(0), Ho, Wo, Cout}),
            "conv_transpose2d: output " + shape_str(y.shape()) + ", expected " + shape_str({x.dim(0), Ho, Wo, Cout}));
  enter();
  ConvTranspose2dKernelParams p;
  p.x = x.f32();
  p.w = w.f32();
  p.bias = bias ? bias->f32() : nullptr;
  p.y = y.f32();
  p.N = to_int(x.dim(0), op, "images");
  p.H = to_int(x.dim(1), op, "height");
  p.W = to_int(x.dim(2), op, "width");
  p.Cin = to_int(Cin, op, "input channels");
  p.Cout = to_int(Cout, op, "output channels");
  p.kh = cp.kh;
  p.kw = cp.kw;
  p.stride = cp.stride;
  p.padding = cp.padding;
  refuse_if(image_params_error(p), op);
  check_status(launch_conv_transpose2d(p, stream_), op);
  after(op);
}

void CudaBackend::resize_bilinear(const Tensor& x, float multiply, Tensor& y) {
  const char* op = "resize_bilinear";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  WAN_CHECK(x.rank() == 4 && y.rank() == 4 && x.dim(0) == y.dim(0) && x.dim(3) == y.dim(3),
            "resize_bilinear: " + shape_str(x.shape()) + " -> " + shape_str(y.shape()));
  enter();
  ResizeBilinearKernelParams p;
  p.x = x.f32();
  p.y = y.f32();
  p.N = to_int(x.dim(0), op, "images");
  p.H = to_int(x.dim(1), op, "height");
  p.W = to_int(x.dim(2), op, "width");
  p.C = to_int(x.dim(3), op, "channels");
  p.Ho = to_int(y.dim(1), op, "output height");
  p.Wo = to_int(y.dim(2), op, "output width");
  p.multiply = multiply;
  refuse_if(image_params_error(p), op);
  check_status(launch_resize_bilinear(p, stream_), op);
  after(op);
}

void CudaBackend::warp(const Tensor& x, const Tensor& flow, int flow_channel, Tensor& y) {
  const char* op = "warp";
  require_device_f32(x, op, "x");
  require_device_f32(flow, op, "flow");
  require_device_f32(y, op, "y");
  WAN_CHECK(x.rank() == 4 && flow.rank() == 4 && y.shape() == x.shape() && flow.dim(0) == x.dim(0) &&
                flow.dim(1) == x.dim(1) && flow.dim(2) == x.dim(2),
            "warp: " + shape_str(x.shape()) + " by flow " + shape_str(flow.shape()));
  enter();
  WarpKernelParams p;
  p.x = x.f32();
  p.flow = flow.f32();
  p.y = y.f32();
  p.N = to_int(x.dim(0), op, "images");
  p.H = to_int(x.dim(1), op, "height");
  p.W = to_int(x.dim(2), op, "width");
  p.C = to_int(x.dim(3), op, "channels");
  p.Cf = to_int(flow.dim(3), op, "flow channels");
  p.flow_channel = flow_channel;
  refuse_if(image_params_error(p), op);
  check_status(launch_warp(p, stream_), op);
  after(op);
}

void CudaBackend::pixel_shuffle(const Tensor& x, int factor, Tensor& y) {
  const char* op = "pixel_shuffle";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  const int64_t r = factor;
  WAN_CHECK(r >= 1 && x.rank() == 4 && x.dim(3) % (r * r) == 0 &&
                y.shape() == Shape({x.dim(0), x.dim(1) * r, x.dim(2) * r, x.dim(3) / (r * r)}),
            "pixel_shuffle: " + shape_str(x.shape()) + " -> " + shape_str(y.shape()));
  enter();
  PixelShuffleKernelParams p;
  p.x = x.f32();
  p.y = y.f32();
  p.N = to_int(x.dim(0), op, "images");
  p.H = to_int(x.dim(1), op, "height");
  p.W = to_int(x.dim(2), op, "width");
  p.C = to_int(y.dim(3), op, "channels");
  p.factor = factor;
  refuse_if(image_params_error(p), op);
  check_status(launch_pixel_shuffle(p, stream_), op);
  after(op);
}

void CudaBackend::leaky_relu(const Tensor& x, const LeakyReluParams& lp, Tensor& y) {
  const char* op = "leaky_relu";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  if (lp.channel_scale) require_device_f32(*lp.channel_scale, op, "channel_scale");
  if (lp.residual) require_device_f32(*lp.residual, op, "residual");
  const int64_t C = x.dim(-1), n = x.numel();
  WAN_CHECK(y.numel() == n && (!lp.residual || lp.residual->numel() == n) && (!lp.channel_scale || lp.channel_scale->numel() == C),
            "leaky_relu: " + shape_str(x.shape()) + " -> " + shape_str(y.shape()));
  enter();
  LeakyReluKernelParams p;
  p.x = x.f32();
  p.scale = lp.channel_scale ? lp.channel_scale->f32() : nullptr;
  p.residual = lp.residual ? lp.residual->f32() : nullptr;
  p.y = y.f32();
  p.n = n;
  p.C = to_int(C, op, "channels");
  p.slope = lp.slope;
  refuse_if(image_params_error(p), op);
  check_status(launch_leaky_relu(p, stream_), op);
  after(op);
}

void CudaBackend::copy_channels(const Tensor& src, const ChannelCopyParams& cp, Tensor& dst) {
  const char* op = "copy_channels";
  require_device_f32(src, op, "src");
  require_device_f32(dst, op, "dst");
  WAN_CHECK(rows_of(src) == rows_of(dst) && src.raw() != dst.raw(),
            "copy_channels: " + shape_str(src.shape()) + " to " + shape_str(dst.shape()));
  enter();
  CopyChannelsKernelParams p;
  p.src = src.f32();
  p.dst = dst.f32();
  p.pixels = rows_of(src);
  p.src_channels = to_int(src.dim(-1), op, "source channels");
  p.dst_channels = to_int(dst.dim(-1), op, "destination channels");
  p.src_offset = cp.src_offset;
  p.dst_offset = cp.dst_offset;
  p.count = cp.count;
  p.scale = cp.scale;
  p.accumulate = cp.accumulate;
  refuse_if(image_params_error(p), op);
  check_status(launch_copy_channels(p, stream_), op);
  after(op);
}

void CudaBackend::mask_blend(const Tensor& a, const Tensor& b, const Tensor& mask, int mask_channel, Tensor& y) {
  const char* op = "mask_blend";
  require_device_f32(a, op, "a");
  require_device_f32(b, op, "b");
  require_device_f32(mask, op, "mask");
  require_device_f32(y, op, "y");
  WAN_CHECK(b.shape() == a.shape() && y.shape() == a.shape() && rows_of(mask) == rows_of(a),
            "mask_blend: " + shape_str(a.shape()) + " with mask " + shape_str(mask.shape()));
  enter();
  MaskBlendKernelParams p;
  p.a = a.f32();
  p.b = b.f32();
  p.mask = mask.f32();
  p.y = y.f32();
  p.pixels = rows_of(a);
  p.C = to_int(a.dim(-1), op, "channels");
  p.mask_channels = to_int(mask.dim(-1), op, "mask channels");
  p.mask_channel = mask_channel;
  refuse_if(image_params_error(p), op);
  check_status(launch_mask_blend(p, stream_), op);
  after(op);
}

}  // namespace wan::cuda
