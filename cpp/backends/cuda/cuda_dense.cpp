// linear(): activations f32 -> bf16 in one pass into a pooled buffer (rows padded to a multiple
// of 8 elements for 16-byte tensor-core loads), then cuBLASLt or our mma.sync GEMM with the bias
// and activation in the epilogue, float32 out. A weight kept compressed (fp8 + scale, GGUF blocks)
// is first decoded into a pooled bf16 operand (cuda/kernels/dequant.cu), just in time: device
// memory holds the compressed matrices plus one decoded operand at a time.
// Opt-in (WAN_VIDEO_FP8_GEMM=1 / set_fp8_gemm, sm_89+ with cuBLASLt): an fp8-e4m3 weight meets
// activations quantized to e4m3 per tensor in cuBLASLt's fp8 GEMM instead (product_fp8), the
// weight's file scale and the activations' scale applied in the f32 accumulator. Not the reference
// arithmetic: the activations' e4m3 rounding adds a relative L2 error of up to 2^-4/sqrt(3) = 3.6e-2
// per product (derivation: cpp/tests/backend_parity/weight_checks.cpp).
#include <cstdlib>
#include <cstring>

#include "backends/cuda/cublaslt_gemm.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_error.h"
#include "cuda/kernels/elementwise.h"
#include "cuda/kernels/gemm_bf16.h"
#include "cuda/kernels/quant_fp8.h"

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
  product(x, w, bias, act, nullptr, 0, false, y, "linear");
}

// One GEMM over the stacked weight: the parts are adjacent column ranges of y already.
void CudaBackend::linear_stacked(const Tensor& x, const Tensor& w, const Tensor* bias,
                                 const std::vector<int64_t>& parts, Tensor& y) {
  int64_t total = 0;
  for (int64_t n : parts) total += n;
  WAN_CHECK(w.rank() == 2 && w.dim(0) == total && y.dim(-1) == total,
            "linear_stacked: weight " + shape_str(w.shape()) + " and output " + shape_str(y.shape()) +
                " for parts summing to " + std::to_string(total));
  product(x, w, bias, Activation::None, nullptr, 0, false, y, "linear_stacked");
}

// The residual add rides in the GEMM's epilogue: on our mma.sync kernel always (gated or not); on
// cuBLASLt only ungated (beta = 1 with the residual as C): cuBLASLt has no epilogue that scales
// by a per-row-gathered vector, so a gated add there is the product into a pooled buffer followed
// by add_gated's one elementwise pass.
void CudaBackend::linear_add_gated(const Tensor& x, const Tensor& w, const Tensor* bias, const Modulation* mod,
                                   int gate_chunk, Tensor& residual) {
  static const char* op = "linear_add_gated";
  const int64_t N = w.dim(0), rows = residual.numel() / (N ? N : 1);
  WAN_CHECK(residual.dim(-1) == N, "linear_add_gated: residual " + shape_str(residual.shape()) + " for weight " +
                                        shape_str(w.shape()));
  if (mod) {
    require_cuda(*mod->rows, op, "modulation rows");
    require_f32(*mod->rows, op, "modulation rows");
    require_cuda(*mod->row_of_token, op, "row_of_token");
    WAN_CHECK(mod->row_of_token->dtype() == DType::I32 && mod->rows->rank() == 3 && mod->rows->dim(2) == N &&
                  mod->row_of_token->numel() == rows && gate_chunk >= 0 && gate_chunk < mod->rows->dim(1),
              "linear_add_gated: modulation shapes");
  }
  const bool lt = !portable_gemm_ && lt_;
  if (x.dim(-1) == 0 || (lt && (mod || (bias && !aligned16(bias->raw()))))) {
    Tensor out = empty(residual.shape(), DType::F32);  // whole: the pool keeps it for the next call
    product(x, w, bias, Activation::None, nullptr, 0, false, out, op);
    add_gated(residual, out, mod, gate_chunk);
    return;
  }
  product(x, w, bias, Activation::None, mod, gate_chunk, true, residual, op);
}

void CudaBackend::product(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act, const Modulation* mod,
                          int gate_chunk, bool accumulate, Tensor& y, const char* op) {
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
  WAN_CHECK(w.rank() == 2 && w.dim(1) == K, std::string(op) + ": weight " + shape_str(w.shape()) + " for input " +
                                                shape_str(x.shape()));
  WAN_CHECK(y.dim(-1) == N && y.numel() == M * N, std::string(op) + ": output " + shape_str(y.shape()));
  WAN_CHECK(!bias || bias->numel() == N, std::string(op) + ": bias " + (bias ? shape_str(bias->shape()) : std::string()));
  WAN_CHECK(w.dtype() != DType::I32, std::string(op) + ": an I32 weight");
  enter();
  if (M == 0 || N == 0) return;
  const Act kact = static_cast<Act>(act);
  if (K == 0) {  // an empty sum: y = act(bias or 0) (linear_add_gated composes instead)
    check_cuda(cudaMemsetAsync(y.raw(), 0, y.bytes(), stream_), op);
    BiasActParams b{y.f32(), y.f32(), bias ? bias->f32() : nullptr, M * N, N, kact};
    launch_bias_act(b, stream_);
    after(op);
    return;
  }

  if (fp8_gemm_ && !mod && product_fp8(x, w, bias, act, accumulate, y, M, N, K, op)) return;

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

  if (!portable_gemm_ && lt_ && !mod) {
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
    args.accumulate = accumulate;  // linear_add_gated sends only what fuses whole here (no gate, bias aligned)
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
  g.accumulate = accumulate;
  if (mod) {
    g.gate = mod->rows->f32() + static_cast<int64_t>(gate_chunk) * N;
    g.gate_row = mod->row_of_token->i32();
    g.gate_ld = mod->rows->dim(1) * N;
  }
  launch_gemm_bf16(g, sm_count_, stream_);
  after(op);
}

// y = act((x quantized to e4m3, scale s) (w * its scale)^T + bias) through cuBLASLt's fp8 GEMM,
// float32 out. Only an fp8-e4m3 weight whose shape meets cuBLASLt's fp8 rules (K and N multiples
// of 16, 16-byte aligned rows) comes here; anything else returns false before any work and takes
// the dequantize + bf16 path. The float32 bias and the activation are applied after the product
// (bias_act): cuBLASLt's fp8 bias epilogue reads a bf16 bias, which would round it.
bool CudaBackend::product_fp8(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act, bool accumulate,
                              Tensor& y, int64_t M, int64_t N, int64_t K, const char* op) {
  if (w.dtype() != DType::F8_E4M3 || K % 16 || N % 16 || !aligned16(w.raw()) || !aligned16(y.raw()) ||
      (accumulate && act != Activation::None) || fp8_refused_.count({M, N, K}))
    return false;
  if (!fp8_scales_.defined()) {
    fp8_scales_ = empty({2}, DType::F32);
    fp8_amax_ = empty({1}, DType::I32);
  }
  Tensor q = empty({M, K}, DType::F8_E4M3);  // K % 16 == 0: rows 16-byte aligned as they are
  QuantFp8Params p;
  p.src = x.f32();
  p.rows = M;
  p.cols = K;
  p.src_ld = K;
  p.dst = static_cast<uint8_t*>(q.raw());
  p.dst_ld = K;
  p.amax = static_cast<unsigned int*>(fp8_amax_.raw());
  p.scales = fp8_scales_.f32();
  p.weight_scale = w.scale();
  launch_quant_fp8(p, stream_);
  after(op);
  LtFp8MatmulArgs g;
  g.x = static_cast<const uint8_t*>(q.raw());
  g.ldx = K;
  g.w = static_cast<const uint8_t*>(w.raw());
  g.ldw = K;
  g.x_scale = fp8_scales_.f32();
  g.w_scale = fp8_scales_.f32() + 1;
  g.y = y.raw();
  g.ldy = N;
  g.M = M;
  g.N = N;
  g.K = K;
  g.accumulate = accumulate;
  g.workspace = lt_workspace_.raw();
  g.workspace_bytes = CublasLtGemm::kWorkspaceBytes;
  if (!lt_->run_fp8(g, stream_)) {  // no algorithm: the quantized copy is dropped, and not made again
    fp8_refused_.insert({M, N, K});
    return false;
  }
  after(op);
  const Act kact = static_cast<Act>(act);
  if (bias || kact != Act::None) {
    BiasActParams b{y.f32(), y.f32(), bias ? bias->f32() : nullptr, M * N, N, kact};
    launch_bias_act(b, stream_);
    after(op);
  }
  return true;
}

}  // namespace wan::cuda
