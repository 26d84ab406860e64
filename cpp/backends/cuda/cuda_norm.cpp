// Layer and RMS norms over the last dimension (with the adaLN modulation and, for q/k, RoPE fused):
// float32 kernels on the stream (cuda/kernels/norms.h), shapes checked as the CPU backend checks
// them.
#include <cstdint>
#include <string>
#include <vector>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_error.h"
#include "cuda/kernels/norms.h"

namespace wan::cuda {

void CudaBackend::layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps, Tensor& y) {
  const char* op = "layer_norm";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  const int64_t n = x.dim(-1);
  WAN_CHECK(y.numel() == x.numel(), "layer_norm output size");
  if (gamma) require_device_f32(*gamma, op, "gamma");
  if (beta) require_device_f32(*beta, op, "beta");
  WAN_CHECK((!gamma || gamma->numel() == n) && (!beta || beta->numel() == n), "layer_norm: affine size");
  enter();
  RowNormParams p;
  p.kind = NormKind::Layer;
  p.x = x.f32();
  p.y = y.f32();
  p.rows = rows_of(x);
  p.n = n;
  p.eps = eps;
  p.gamma = gamma ? gamma->f32() : nullptr;
  p.beta = beta ? beta->f32() : nullptr;
  launch_row_norm(p, stream_);
  after(op);
}

void CudaBackend::layer_norm_modulated(const Tensor& x, const Modulation& mod, int shift_chunk, int scale_chunk,
                                       float eps, Tensor& y) {
  const char* op = "layer_norm_modulated";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  require_device_f32(*mod.rows, op, "modulation rows");
  require_device_i32(*mod.row_of_token, op, "row_of_token");
  const int64_t n = x.dim(-1), rows = rows_of(x);
  const Tensor& table = *mod.rows;
  WAN_CHECK(table.rank() == 3 && table.dim(2) == n && mod.row_of_token->numel() == rows && y.numel() == x.numel() &&
                shift_chunk < table.dim(1) && scale_chunk < table.dim(1),
            "layer_norm_modulated shapes");
  enter();
  RowNormParams p;
  p.kind = NormKind::LayerModulated;
  p.x = x.f32();
  p.y = y.f32();
  p.rows = rows;
  p.n = n;
  p.eps = eps;
  p.mod_rows = table.f32();
  p.row_of_token = mod.row_of_token->i32();
  p.chunks = static_cast<int>(table.dim(1));
  p.shift_chunk = shift_chunk;
  p.scale_chunk = scale_chunk;
  launch_row_norm(p, stream_);
  after(op);
}

void CudaBackend::rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) {
  const char* op = "rms_norm";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  require_device_f32(weight, op, "weight");
  const int64_t n = x.dim(-1);
  WAN_CHECK(weight.numel() == n && y.numel() == x.numel(), "rms_norm shapes");
  enter();
  RowNormParams p;
  p.kind = NormKind::Rms;
  p.x = x.f32();
  p.y = y.f32();
  p.rows = rows_of(x);
  p.n = n;
  p.eps = eps;
  p.gamma = weight.f32();
  launch_row_norm(p, stream_);
  after(op);
}

// One kernel for the q/k norm and the rotation. Its pairs are read as float2: an odd column, row
// width or base address (none in the models) takes the composed path instead.
void CudaBackend::rms_norm_rope(const Tensor& x, const Tensor& weight, const NormRopeParams& np, Tensor& y) {
  const char* op = "rms_norm_rope";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  require_device_f32(weight, op, "weight");
  WAN_CHECK(np.cos && np.sin, "rms_norm_rope: cos/sin tables are required");
  require_device_f32(*np.cos, op, "cos");
  require_device_f32(*np.sin, op, "sin");
  const int64_t n = y.dim(-1), C = x.dim(-1), rows = rows_of(x);
  const int64_t D = np.heads > 0 ? n / np.heads : 0, half = D / 2, S = np.cos->dim(0);
  WAN_CHECK(np.heads > 0 && n % np.heads == 0 && D % 2 == 0, "rms_norm_rope: " + std::to_string(np.heads) +
                                                                 " heads of " + shape_str(y.shape()));
  WAN_CHECK(np.column >= 0 && np.column + n <= C && y.numel() == rows * n && weight.numel() == n,
            "rms_norm_rope: " + std::to_string(n) + " columns at " + std::to_string(np.column) + " of " +
                shape_str(x.shape()) + " into " + shape_str(y.shape()));
  WAN_CHECK(S > 0 && rows % S == 0 && np.cos->numel() == S * half && np.sin->numel() == S * half,
            "rms_norm_rope: table " + shape_str(np.cos->shape()) + " for " + std::to_string(rows) + " tokens");
  const float* xs = x.f32() + np.column;
  const bool in_place = xs == y.f32();
  WAN_CHECK(in_place ? C == n : (x.f32() + C * rows <= y.f32() || y.f32() + n * rows <= x.f32()),
            "rms_norm_rope: y overlaps x other than in place");
  auto aligned8 = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 8 == 0; };
  if (C % 2 || np.column % 2 || !aligned8(xs) || !aligned8(y.raw()) || !aligned8(weight.raw())) {
    Backend::rms_norm_rope(x, weight, np, y);
    return;
  }
  enter();
  RmsNormRopeParams p;
  p.x = xs;
  p.y = y.f32();
  p.x_ld = C;
  p.y_ld = n;
  p.gamma = weight.f32();
  p.cos = np.cos->f32();
  p.sin = np.sin->f32();
  p.rows = rows;
  p.S = S;
  p.n = n;
  p.head_dim = static_cast<int>(D);
  p.eps = np.eps;
  launch_rms_norm_rope(p, stream_);
  after(op);
}

}  // namespace wan::cuda
