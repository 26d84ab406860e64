// cuBLASLt behind the linear layers. Compiled for real only where CMake found cuBLASLt
// (WAN_HAVE_CUBLASLT); elsewhere create() returns null.
#include "backends/cuda/cublaslt_gemm.h"

#ifdef WAN_HAVE_CUBLASLT

#include <cublasLt.h>

#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "core/error.h"

namespace wan::cuda {

namespace {

void check_lt(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS)
    fail(st == CUBLAS_STATUS_ALLOC_FAILED ? "E_OOM" : "E_DEVICE",
         std::string("linear (cuBLASLt ") + what + "): status " + std::to_string(static_cast<int>(st)));
}

// Largest power of two (<= 256) dividing the address: what the heuristic may assume.
uint32_t alignment_of(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uint32_t al = 256;
  while (al > 1 && a % al) al >>= 1;
  return al;
}

// Row-major y = x w^T is column-major y^T = w x^T: cuBLASLt's A is w (stored K x N, transposed),
// B is x (stored K x M), D is y^T (N x M, ld ldy), and the bias runs along D's rows (length N).
struct Key {
  int64_t M, N, K, ldx, ldw, ldy;
  int epilogue;
  uint32_t align_x, align_w, align_y;
  bool operator<(const Key& o) const {
    return std::tie(M, N, K, ldx, ldw, ldy, epilogue, align_x, align_w, align_y) <
           std::tie(o.M, o.N, o.K, o.ldx, o.ldw, o.ldy, o.epilogue, o.align_x, o.align_w, o.align_y);
  }
};

struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool usable = false;
};

class LtImpl final : public CublasLtGemm {
 public:
  LtImpl() { check_lt(cublasLtCreate(&handle_), "create"); }
  ~LtImpl() override {
    for (auto& [k, p] : plans_) {
      if (p.a) cublasLtMatrixLayoutDestroy(p.a);
      if (p.b) cublasLtMatrixLayoutDestroy(p.b);
      if (p.d) cublasLtMatrixLayoutDestroy(p.d);
      if (p.op) cublasLtMatmulDescDestroy(p.op);
    }
    if (handle_) cublasLtDestroy(handle_);
  }

  bool run(const LtMatmulArgs& a, cudaStream_t stream) override {
    const bool bias = a.bias != nullptr;
    const cublasLtEpilogue_t epi = a.gelu_tanh ? (bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU)
                                               : (bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT);
    const Key key{a.M, a.N, a.K, a.ldx, a.ldw, a.ldy, static_cast<int>(epi),
                  alignment_of(a.x), alignment_of(a.w), alignment_of(a.y)};
    std::lock_guard<std::mutex> lock(mu_);
    Plan& p = plan(key, epi, a.workspace_bytes);
    if (!p.usable) return false;
    if (bias) {
      const void* ptr = a.bias;
      check_lt(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &ptr, sizeof(ptr)),
               "bias pointer");
    }
    const float alpha = 1.0f, beta = 0.0f;
    check_lt(cublasLtMatmul(handle_, p.op, &alpha, a.w, p.a, a.x, p.b, &beta, a.y, p.d, a.y, p.d, &p.algo,
                            a.workspace, a.workspace_bytes, stream),
             "matmul");
    return true;
  }

 private:
  Plan& plan(const Key& k, cublasLtEpilogue_t epi, size_t workspace_bytes) {
    auto it = plans_.find(k);
    if (it != plans_.end()) return it->second;
    Plan& p = plans_[k];
    check_lt(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "descriptor");
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    check_lt(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)), "transa");
    check_lt(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)), "transb");
    check_lt(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)), "epilogue");
    if (epi == CUBLASLT_EPILOGUE_BIAS || epi == CUBLASLT_EPILOGUE_GELU_BIAS) {
      const int32_t bias_type = CUDA_R_32F;  // f32 bias with an f32 output (also the default)
      check_lt(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                              sizeof(bias_type)),
               "bias type");
    }
    check_lt(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, static_cast<uint64_t>(k.K), static_cast<uint64_t>(k.N),
                                        k.ldw),
             "layout w");
    check_lt(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, static_cast<uint64_t>(k.K), static_cast<uint64_t>(k.M),
                                        k.ldx),
             "layout x");
    check_lt(cublasLtMatrixLayoutCreate(&p.d, CUDA_R_32F, static_cast<uint64_t>(k.N), static_cast<uint64_t>(k.M),
                                        k.ldy),
             "layout y");
    cublasLtMatmulPreference_t pref = nullptr;
    check_lt(cublasLtMatmulPreferenceCreate(&pref), "preference");
    const uint64_t ws = workspace_bytes;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &k.align_w,
                                         sizeof(k.align_w));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &k.align_x,
                                         sizeof(k.align_x));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &k.align_y,
                                         sizeof(k.align_y));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &k.align_y,
                                         sizeof(k.align_y));
    cublasLtMatmulHeuristicResult_t result{};
    int returned = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(handle_, p.op, p.a, p.b, p.d, p.d, pref, 1, &result, &returned);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st == CUBLAS_STATUS_SUCCESS && returned > 0) {
      p.algo = result.algo;
      p.usable = true;
    }
    return p;
  }

  cublasLtHandle_t handle_ = nullptr;
  std::mutex mu_;
  std::map<Key, Plan> plans_;
};

}  // namespace

std::unique_ptr<CublasLtGemm> CublasLtGemm::create(cudaStream_t) { return std::make_unique<LtImpl>(); }

}  // namespace wan::cuda

#else  // no cuBLASLt in this toolkit

namespace wan::cuda {
std::unique_ptr<CublasLtGemm> CublasLtGemm::create(cudaStream_t) { return nullptr; }
}  // namespace wan::cuda

#endif
