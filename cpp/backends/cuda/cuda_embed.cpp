// Embeddings and token layout: table lookups, the sinusoidal timestep embedding, RoPE and the
// patch reshapes (kernels in cuda/kernels/elementwise.h). Shapes are checked as the CPU backend
// checks them.
#include <cstdint>
#include <string>
#include <vector>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_error.h"
#include "cuda/kernels/elementwise.h"

namespace wan::cuda {

void CudaBackend::embedding(const Tensor& table, const Tensor& ids, Tensor& out) {
  const char* op = "embedding";
  require_cuda(table, op, "table");
  require_device_i32(ids, op, "ids");
  require_device_f32(out, op, "out");
  WAN_CHECK(table.dtype() == DType::F32 || table.dtype() == DType::BF16, "embedding: table dtype");
  const int64_t rows = table.dim(0), dim = table.dim(-1), n = ids.numel();
  WAN_CHECK(out.numel() == n * dim, "embedding output " + shape_str(out.shape()));
  enter();
  // Ids are few (a prompt): check them on the host so that a bad one is E_INVALID_ARGUMENT, as on
  // the CPU, rather than a fault in the kernel.
  std::vector<int32_t> host(static_cast<size_t>(n));
  if (n) {
    check_cuda(cudaMemcpyAsync(host.data(), ids.raw(), ids.bytes(), cudaMemcpyDeviceToHost, stream_), op);
    check_cuda(cudaStreamSynchronize(stream_), op);
  }
  for (int32_t id : host)
    if (id < 0 || id >= rows)
      fail("E_INVALID_ARGUMENT", "token id " + std::to_string(id) + " is outside the vocabulary of " +
                                     std::to_string(rows));
  EmbeddingParams p;
  p.table = table.raw();
  p.table_bf16 = table.dtype() == DType::BF16;
  p.ids = ids.i32();
  p.out = out.f32();
  p.count = n;
  p.dim = dim;
  launch_embedding(p, stream_);
  after(op);
}

void CudaBackend::timestep_embedding(const Tensor& t, Tensor& y) {
  const char* op = "timestep_embedding";
  require_device_f32(t, op, "t");
  require_device_f32(y, op, "y");
  const int64_t R = t.numel(), dim = y.dim(-1);
  WAN_CHECK(y.numel() == R * dim && dim % 2 == 0, "timestep_embedding shapes");
  enter();
  TimestepEmbeddingParams p{t.f32(), y.f32(), R, dim};
  launch_timestep_embedding(p, stream_);
  after(op);
}

void CudaBackend::rope(Tensor& x, int heads, const Tensor& cos, const Tensor& sin) {
  const char* op = "rope";
  require_device_f32(x, op, "x");
  require_device_f32(cos, op, "cos");
  require_device_f32(sin, op, "sin");
  const int64_t HD = x.dim(-1), S = x.dim(-2), D = heads > 0 ? HD / heads : 0, half = D / 2;
  WAN_CHECK(heads > 0 && HD % heads == 0, "rope: heads");
  WAN_CHECK(cos.numel() == S * half && sin.numel() == S * half, "rope: table " + shape_str(cos.shape()));
  enter();
  RopeParams p;
  p.x = x.f32();
  p.cos = cos.f32();
  p.sin = sin.f32();
  p.rows = rows_of(x);
  p.S = S;
  p.heads = heads;
  p.head_dim = static_cast<int>(D);
  launch_rope(p, stream_);
  after(op);
}

void CudaBackend::patchify(const Tensor& x, const PatchParams& pp, Tensor& y) {
  const char* op = "patchify";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  WAN_CHECK(x.rank() == 5 && pp.pt > 0 && pp.ph > 0 && pp.pw > 0, "patchify input " + shape_str(x.shape()));
  PatchParamsDev p{x.f32(), y.f32(), x.dim(0), x.dim(1), x.dim(2), x.dim(3), x.dim(4), pp.pt, pp.ph, pp.pw};
  const int64_t tokens = p.B * (p.F / pp.pt) * (p.H / pp.ph) * (p.W / pp.pw);
  WAN_CHECK(y.numel() == tokens * p.C * pp.pt * pp.ph * pp.pw, "patchify output " + shape_str(y.shape()));
  enter();
  launch_patchify(p, stream_);
  after(op);
}

void CudaBackend::unpatchify(const Tensor& y, const PatchParams& pp, Tensor& out) {
  const char* op = "unpatchify";
  require_device_f32(y, op, "y");
  require_device_f32(out, op, "out");
  WAN_CHECK(out.rank() == 5 && pp.pt > 0 && pp.ph > 0 && pp.pw > 0, "unpatchify output " + shape_str(out.shape()));
  PatchParamsDev p{y.f32(), out.f32(), out.dim(0), out.dim(1), out.dim(2), out.dim(3), out.dim(4), pp.pt, pp.ph, pp.pw};
  const int64_t tokens = p.B * (p.F / pp.pt) * (p.H / pp.ph) * (p.W / pp.pw);
  WAN_CHECK(y.numel() == tokens * p.C * pp.pt * pp.ph * pp.pw, "unpatchify input " + shape_str(y.shape()));
  enter();
  launch_unpatchify(p, stream_);
  after(op);
}

}  // namespace wan::cuda
