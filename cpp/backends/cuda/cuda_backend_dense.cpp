// linear(): activations f32 -> bf16 in one pass into a pooled buffer (rows padded to a multiple
// of 8 elements for 16-byte tensor-core loads), then cuBLASLt or our mma.sync GEMM with the bias
// and activation in the epilogue, float32 out. A weight kept compressed (fp8 + scale, GGUF blocks)
// is first decoded into a pooled bf16 operand (cuda/kernels/dequant.cu), just in time: device
// memory holds the compressed matrices plus one decoded operand at a time.
#include <cstdlib>
#include <cstring>

#include "backends/cuda/cublaslt_gemm.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_error.h"
#include "cuda/kernels/elementwise.h"
#include "cuda/kernels/gemm_bf16.h"

namespace wan::cuda {

static_assert(static_cast<int>(Activation::None) == static_cast<int>(Act::None) &&
                  static_cast<int>(Activation::GeluTanh) == static_cast<int>(Act::GeluTanh) &&
                  static_cast<int>(Activation::GeluErf) == static_cast<int>(Act::GeluErf) &&
                  static_cast<int>(Activation::Silu) == static_cast<int>(Act::Silu),
              "kernel activations mirror wan::Activation");

namespace {
int64_t round8(int64_t v) { return (v + 7) / 8 * 8; }
bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }
}  // namespace

Tensor CudaBackend::to_bf16_padded(const Tensor& src, int64_t rows, int64_t cols, int64_t* ld, const char* op) {
  *ld = round8(cols);
  Tensor dst = empty({rows * *ld}, DType::BF16);
  ToBf16Params p;
  p.src = src.raw();
  p.src_bf16 = src.dtype() == DType::BF16;
  p.dst = dst.data<uint16_t>();
  p.rows = rows;
  p.cols = cols;
  p.src_ld = cols;
  p.dst_ld = *ld;
  launch_to_bf16(p, stream_);
  after(op);
  return dst;
}

void CudaBackend::linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act, Tensor& y) {
  static const char* op = "linear";
  require_cuda(x, op, "x");
  require_cuda(w, op, "weight");
  require_cuda(y, op, "y");
  require_f32(x, op, "x");
  require_f32(y, op, "y");
  if (bias) {
    require_cuda(*bias, op, "bias");
    require_f32(*bias, op, "bias");
  }
  const int64_t K = x.dim(-1), M = x.numel() / (K ? K : 1), N = w.dim(0);
  WAN_CHECK(w.rank() == 2 && w.dim(1) == K, "linear: weight " + shape_str(w.shape()) + " for input " +
                                                shape_str(x.shape()));
  WAN_CHECK(y.dim(-1) == N && y.numel() == M * N, "linear: output " + shape_str(y.shape()));
  WAN_CHECK(!bias || bias->numel() == N, "linear: bias " + (bias ? shape_str(bias->shape()) : std::string()));
  WAN_CHECK(w.dtype() != DType::I32, "linear: an I32 weight");
  enter();
  if (M == 0 || N == 0) return;
  const Act kact = static_cast<Act>(act);
  if (K == 0) {  // an empty sum: y = act(bias or 0)
    check_cuda(cudaMemsetAsync(y.raw(), 0, y.bytes(), stream_), op);
    BiasActParams b{y.f32(), y.f32(), bias ? bias->f32() : nullptr, M * N, N, kact};
    launch_bias_act(b, stream_);
    after(op);
    return;
  }

  int64_t lda = 0;
  Tensor a = to_bf16_padded(x, M, K, &lda, op);
  // Weights: bf16 rows of a 16-byte multiple are used as stored; anything else is repacked.
  Tensor wpad;
  const uint16_t* wb = nullptr;
  int64_t ldb = K;
  if (w.dtype() == DType::BF16 && K % 8 == 0 && aligned16(w.raw())) {
    wb = w.data<uint16_t>();
  } else if (w.dtype() != DType::BF16 && w.dtype() != DType::F32) {
    ldb = round8(K);
    wpad = decode(w, true, ldb, op);
    wb = wpad.data<uint16_t>();
  } else {
    wpad = to_bf16_padded(w, N, K, &ldb, op);
    wb = wpad.data<uint16_t>();
  }
  const int64_t Kp = lda;  // == ldb: zero columns past K add nothing

  if (!portable_gemm_ && lt_) {
    // The bias epilogue reads bias with vector loads: fuse it only when it is 16-byte aligned.
    const bool fuse_bias = bias && aligned16(bias->raw());
    // GELU after the bias only: fused when the bias is fused too (or there is none).
    const bool fuse_gelu = act == Activation::GeluTanh && lt_gelu_ && (!bias || fuse_bias);
    LtMatmulArgs args;
    args.x = a.data<uint16_t>();
    args.ldx = lda;
    args.w = wb;
    args.ldw = ldb;
    args.y = y.f32();
    args.ldy = N;
    args.bias = fuse_bias ? bias->f32() : nullptr;
    args.M = M;
    args.N = N;
    args.K = Kp;
    args.gelu_tanh = fuse_gelu;
    args.workspace = lt_workspace_.raw();
    args.workspace_bytes = CublasLtGemm::kWorkspaceBytes;
    if (lt_->run(args, stream_)) {
      after(op);
      const bool bias_left = bias && !fuse_bias;
      const Act act_left = fuse_gelu ? Act::None : kact;
      if (bias_left || act_left != Act::None) {
        BiasActParams b{y.f32(), y.f32(), bias_left ? bias->f32() : nullptr, M * N, N, act_left};
        launch_bias_act(b, stream_);
        after(op);
      }
      return;
    }
    // No cuBLASLt algorithm for this shape: our kernel below.
  }

  GemmBf16Params g;
  g.a = a.data<uint16_t>();
  g.b = wb;
  g.c = y.f32();
  g.bias = bias ? bias->f32() : nullptr;
  g.M = M;
  g.N = N;
  g.K = Kp;
  g.lda = lda;
  g.ldb = ldb;
  g.ldc = N;
  g.act = kact;
  launch_gemm_bf16(g, sm_count_, stream_);
  after(op);
}

}  // namespace wan::cuda
