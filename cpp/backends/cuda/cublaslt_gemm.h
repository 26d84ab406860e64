#pragma once
// cuBLASLt for the linear layers, opened at run time where the machine has it (WAN_HAVE_CUBLASLT
// builds; see cublaslt_gemm.cpp):
//   y[M, N] = act(x[M, K] * w[N, K]^T + bias[N]), x and w bf16, y float32, f32 accumulation,
// bias and (tanh) GELU fused as epilogues. Descriptors and the heuristic's algorithm are cached
// per problem (shape, leading dims, epilogue, operand alignments). Without cuBLASLt (no header at
// build time, no library at run time), create() returns null, says why, and the backend uses its
// own mma.sync GEMM.
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>

namespace wan::cuda {

struct LtMatmulArgs {
  const uint16_t* x = nullptr;  // bf16 [M, ldx]
  int64_t ldx = 0;
  const uint16_t* w = nullptr;  // bf16 [N, ldw]
  int64_t ldw = 0;
  float* y = nullptr;           // f32 [M, ldy]
  int64_t ldy = 0;
  const float* bias = nullptr;  // f32 [N] or null
  int64_t M = 0, N = 0, K = 0;
  bool gelu_tanh = false;       // fuse the tanh GELU epilogue
  bool accumulate = false;      // y += the product (beta = 1, y read as C): a residual add
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// y[M, N] = (x * sx) (w * sw)^T (+ bias[N]) (+ y when accumulate) with x and w fp8-e4m3 and f32
// accumulation: the fp8 fast path of an fp8-scaled weight (cuda_dense.cpp). The scales are
// device floats (cuBLASLt reads them through CUBLASLT_MATMUL_DESC_{A,B}_SCALE_POINTER, so the
// quantization kernel can write the activations' scale without a host round trip).
struct LtFp8MatmulArgs {
  const uint8_t* x = nullptr;  // e4m3 [M, ldx]
  int64_t ldx = 0;
  const uint8_t* w = nullptr;  // e4m3 [N, ldw], row-major as the checkpoint stores it
  int64_t ldw = 0;
  const float* x_scale = nullptr;  // device float sx
  const float* w_scale = nullptr;  // device float sw
  void* y = nullptr;               // [M, ldy], float32 or bf16 (y_bf16)
  bool y_bf16 = false;
  int64_t ldy = 0;
  // bf16 [N] or null. cuBLASLt's fp8 kernels take a bf16 bias with a bf16 output and also with a
  // float32 one (its fp8 type table), so a float32 bias is better added after the product.
  const uint16_t* bias = nullptr;
  int64_t M = 0, N = 0, K = 0;   // K and N multiples of 16 (see run_fp8)
  bool accumulate = false;       // y += the product (beta = 1; y read as C, same type as y)
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

class CublasLtGemm {
 public:
  static constexpr size_t kWorkspaceBytes = size_t{32} << 20;
  // Null when cuBLASLt is not available here, with `why` set.
  static std::unique_ptr<CublasLtGemm> create(cudaStream_t stream, std::string* why = nullptr);
  // The library that create() opens (empty with `why` set when none): the device check's preflight.
  static std::string library(std::string* why);
  virtual ~CublasLtGemm() = default;
  // False when cuBLASLt offers no algorithm for the problem (the caller falls back); throws
  // E_DEVICE when a call fails.
  virtual bool run(const LtMatmulArgs& a, cudaStream_t stream) = 0;
  // The same for fp8 operands. False when the problem breaks cuBLASLt's fp8 rules (K or N not a
  // multiple of 16, operands not 16-byte aligned) or it offers no algorithm: the caller falls back.
  virtual bool run_fp8(const LtFp8MatmulArgs& a, cudaStream_t stream) = 0;
};

}  // namespace wan::cuda
