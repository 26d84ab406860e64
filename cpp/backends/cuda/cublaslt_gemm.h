#pragma once
// cuBLASLt for the linear layers where the toolkit ships it (WAN_HAVE_CUBLASLT):
//   y[M, N] = act(x[M, K] * w[N, K]^T + bias[N]), x and w bf16, y float32, f32 accumulation,
// bias and (tanh) GELU fused as epilogues. Descriptors and the heuristic's algorithm are cached
// per problem (shape, leading dims, epilogue, operand alignments). Without cuBLASLt, create()
// returns null and the backend uses its own mma.sync GEMM.
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>

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
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

class CublasLtGemm {
 public:
  static constexpr size_t kWorkspaceBytes = size_t{32} << 20;
  // Null when this build has no cuBLASLt.
  static std::unique_ptr<CublasLtGemm> create(cudaStream_t stream);
  virtual ~CublasLtGemm() = default;
  // False when cuBLASLt offers no algorithm for the problem (the caller falls back); throws
  // E_DEVICE when a call fails.
  virtual bool run(const LtMatmulArgs& a, cudaStream_t stream) = 0;
};

}  // namespace wan::cuda
