// cuBLASLt behind the linear layers. Compiled where CMake found cublasLt.h (WAN_HAVE_CUBLASLT: the
// CUDA toolkit's, or the nvidia-cublas wheel's via WAN_CUBLASLT_INCLUDE); the library itself is
// opened at run time (dlopen), so one binary uses cuBLASLt where the machine has it (the toolkit's,
// PyTorch's nvidia/cu13/lib on LD_LIBRARY_PATH, or $WAN_VIDEO_CUBLASLT) and runs on the mma.sync
// GEMM where it has not, saying why. Elsewhere create() returns null.
#include "backends/cuda/cublaslt_gemm.h"

#ifdef WAN_HAVE_CUBLASLT

#include <cublasLt.h>
#include <dlfcn.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "core/error.h"

namespace wan::cuda {

namespace {

// The entry points used, resolved once from the library (the header's prototypes give the types).
struct LtApi {
#define WAN_LT_FUNCTIONS(X)                                                                                      \
  X(cublasLtGetVersion) X(cublasLtCreate) X(cublasLtDestroy) X(cublasLtMatmulDescCreate)                        \
  X(cublasLtMatmulDescDestroy) X(cublasLtMatmulDescSetAttribute) X(cublasLtMatrixLayoutCreate)                  \
  X(cublasLtMatrixLayoutDestroy) X(cublasLtMatmulPreferenceCreate) X(cublasLtMatmulPreferenceDestroy)          \
  X(cublasLtMatmulPreferenceSetAttribute) X(cublasLtMatmulAlgoGetHeuristic) X(cublasLtMatmul)
#define WAN_LT_MEMBER(f) decltype(&::f) f = nullptr;
  WAN_LT_FUNCTIONS(WAN_LT_MEMBER)
#undef WAN_LT_MEMBER
  std::string path;  // what was opened
};

#define WAN_STR2(x) #x
#define WAN_STR(x) WAN_STR2(x)
// The soname of the major the header describes: libcublasLt.so.13 for CUDA 13.
constexpr const char* kLtSoname = "libcublasLt.so." WAN_STR(CUBLAS_VER_MAJOR);

// Opens the library once per process; null with `why` set when it is missing or incomplete.
const LtApi* lt_api(std::string* why) {
  static std::once_flag once;
  static LtApi api;
  static std::string error;
  static bool ok = false;
  std::call_once(once, [] {
    const char* env = std::getenv("WAN_VIDEO_CUBLASLT");
    void* lib = nullptr;
    std::string tried;
    for (const char* name : {env && *env ? env : nullptr, kLtSoname, "libcublasLt.so"}) {
      if (!name) continue;
      lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (lib) {
        api.path = name;
        break;
      }
      const char* e = dlerror();
      tried += std::string(tried.empty() ? "" : "; ") + (e ? e : name);
    }
    if (!lib) {
      error = "cannot open " + std::string(kLtSoname) + " (put its folder on LD_LIBRARY_PATH or set WAN_VIDEO_CUBLASLT): " + tried;
      return;
    }
#define WAN_LT_RESOLVE(f)                                                        \
    api.f = reinterpret_cast<decltype(api.f)>(dlsym(lib, #f));                   \
    if (!api.f) {                                                                \
      error = api.path + " has no " #f;                                          \
      return;                                                                    \
    }
    WAN_LT_FUNCTIONS(WAN_LT_RESOLVE)
#undef WAN_LT_RESOLVE
    const size_t version = api.cublasLtGetVersion();
    if (version / 10000 != CUBLAS_VER_MAJOR) {
      error = api.path + " is version " + std::to_string(version) + ", built for major " + WAN_STR(CUBLAS_VER_MAJOR);
      return;
    }
    ok = true;  // the handle is never closed: plans may outlive any one backend
  });
  if (!ok && why) *why = error;
  return ok ? &api : nullptr;
}

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
// The fp8 plans (run_fp8) use the same form: it is the "TN" one cuBLASLt's fp8 kernels require.
// The operand types of a plan: bf16 operands with a float32 output, or fp8 ones (run_fp8).
enum class Kind : int { Bf16, Fp8ToF32, Fp8ToBf16 };

struct Key {
  int64_t M, N, K, ldx, ldw, ldy;
  int epilogue;
  uint32_t align_x, align_w, align_y;
  Kind kind = Kind::Bf16;
  bool operator<(const Key& o) const {
    return std::tie(M, N, K, ldx, ldw, ldy, epilogue, align_x, align_w, align_y, kind) <
           std::tie(o.M, o.N, o.K, o.ldx, o.ldw, o.ldy, o.epilogue, o.align_x, o.align_w, o.align_y, o.kind);
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
  explicit LtImpl(const LtApi& api) : lt_(api) { check_lt(lt_.cublasLtCreate(&handle_), "create"); }
  ~LtImpl() override {
    for (auto& [k, p] : plans_) destroy(p);
    if (handle_) lt_.cublasLtDestroy(handle_);
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
      check_lt(lt_.cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &ptr, sizeof(ptr)),
               "bias pointer");
    }
    // beta = 1 reads y as C (same layout and pointer as D, which cuBLASLt allows in place); the
    // algorithm chosen for the shape serves either beta.
    const float alpha = 1.0f, beta = a.accumulate ? 1.0f : 0.0f;
    check_lt(lt_.cublasLtMatmul(handle_, p.op, &alpha, a.w, p.a, a.x, p.b, &beta, a.y, p.d, a.y, p.d, &p.algo,
                            a.workspace, a.workspace_bytes, stream),
             "matmul");
    return true;
  }

  // cuBLASLt's rules for fp8 (the cublasLtMatmul section of the cuBLAS guide, "FP8" requirements),
  // as this call meets them:
  // - on compute capability 8.9 and 9.0 only the "TN" form exists: A transposed, B not. Row-major
  //   y = x w^T is column-major y^T = w^T' x^T' with A = w viewed as a K x N column-major matrix
  //   (the [N, K] rows as stored) and op(A) = A^T, B = x as K x M, op(B) = B: TN as required, the
  //   same form the bf16 plans use, and no transposed copy of either operand.
  // - the compute type is CUBLAS_COMPUTE_32F and the scale type (alpha, beta, the operand scales)
  //   CUDA_R_32F.
  // - leading dimensions and pointers 16-byte aligned (Tensor Core Usage's rule, which fp8 makes a
  //   requirement, not a preference): K, ldx and ldw multiples of 16 e4m3 elements; N a multiple of
  //   16 as well (the guide's fp8 dimension rule; it also keeps every bf16 output row aligned).
  // - output float32 or bf16; the bias, when fused, is bf16 in both cases (its fp8 type table).
  // - the operand scales are device pointers, A's (w) and B's (x) scale multiply the product in the
  //   f32 accumulator: D = alpha * (sA * sB) * op(A) op(B) + beta * C.
  // Fast accumulation stays off (the default, set explicitly): with it the tensor cores' partial
  // sums are not promoted to float32 periodically, so their error grows with K (K = 8960 in a Wan
  // feed-forward), on top of the activations' e4m3 rounding this path already adds; the error
  // bound derived for this path (cpp/tests/backend_parity/weight_checks.cpp) assumes float32
  // accumulation.
  bool run_fp8(const LtFp8MatmulArgs& a, cudaStream_t stream) override {
    const int64_t y_bytes = a.y_bf16 ? 2 : 4;
    if (a.K % 16 || a.N % 16 || a.ldx % 16 || a.ldw % 16 || (a.ldy * y_bytes) % 16 || a.ldx < a.K || a.ldw < a.K ||
        a.ldy < a.N || alignment_of(a.x) < 16 || alignment_of(a.w) < 16 || alignment_of(a.y) < 16 ||
        (a.bias && alignment_of(a.bias) < 16) || !a.x_scale || !a.w_scale)
      return false;
    const cublasLtEpilogue_t epi = a.bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    const Key key{a.M, a.N, a.K, a.ldx, a.ldw, a.ldy, static_cast<int>(epi),
                  alignment_of(a.x), alignment_of(a.w), alignment_of(a.y), a.y_bf16 ? Kind::Fp8ToBf16 : Kind::Fp8ToF32};
    std::lock_guard<std::mutex> lock(mu_);
    Plan& p = plan(key, epi, a.workspace_bytes);
    if (!p.usable) return false;
    // Per call: the scales and the bias live in pooled buffers whose addresses change.
    const void* sa = a.w_scale;  // A is the weight
    const void* sb = a.x_scale;
    check_lt(lt_.cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sa, sizeof(sa)),
             "A scale pointer");
    check_lt(lt_.cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sb, sizeof(sb)),
             "B scale pointer");
    if (a.bias) {
      const void* ptr = a.bias;
      check_lt(lt_.cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &ptr, sizeof(ptr)),
               "bias pointer");
    }
    const float alpha = 1.0f, beta = a.accumulate ? 1.0f : 0.0f;
    check_lt(lt_.cublasLtMatmul(handle_, p.op, &alpha, a.w, p.a, a.x, p.b, &beta, a.y, p.d, a.y, p.d, &p.algo,
                                a.workspace, a.workspace_bytes, stream),
             "fp8 matmul");
    return true;
  }

 private:
  // The cached plan of a key; a key whose descriptors failed to build (a transient cuBLASLt
  // allocation failure) is not cached, so a later call tries again instead of giving up the shape.
  Plan& plan(const Key& k, cublasLtEpilogue_t epi, size_t workspace_bytes) {
    auto it = plans_.find(k);
    if (it != plans_.end()) return it->second;
    Plan p;
    try {
      build_plan(p, k, epi, workspace_bytes);
    } catch (...) {
      destroy(p);
      throw;
    }
    return plans_.emplace(k, p).first->second;
  }

  void destroy(Plan& p) {
    if (p.a) lt_.cublasLtMatrixLayoutDestroy(p.a);
    if (p.b) lt_.cublasLtMatrixLayoutDestroy(p.b);
    if (p.d) lt_.cublasLtMatrixLayoutDestroy(p.d);
    if (p.op) lt_.cublasLtMatmulDescDestroy(p.op);
    p = Plan{};
  }

  void build_plan(Plan& p, const Key& k, cublasLtEpilogue_t epi, size_t workspace_bytes) {
    const bool fp8 = k.kind != Kind::Bf16;
    const cudaDataType_t in_type = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
    const cudaDataType_t out_type = k.kind == Kind::Fp8ToBf16 ? CUDA_R_16BF : CUDA_R_32F;
    check_lt(lt_.cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "descriptor");
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    check_lt(lt_.cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)), "transa");
    check_lt(lt_.cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)), "transb");
    check_lt(lt_.cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)), "epilogue");
    if (epi == CUBLASLT_EPILOGUE_BIAS || epi == CUBLASLT_EPILOGUE_GELU_BIAS) {
      // bf16 operands: an f32 bias with the f32 output (also the default); fp8: bf16 (see run_fp8).
      const int32_t bias_type = fp8 ? CUDA_R_16BF : CUDA_R_32F;
      check_lt(lt_.cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                              sizeof(bias_type)),
               "bias type");
    }
    if (fp8) {
      const int8_t fast_accum = 0;  // see run_fp8
      check_lt(lt_.cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast_accum,
                                              sizeof(fast_accum)),
               "fast accumulation");
    }
    check_lt(lt_.cublasLtMatrixLayoutCreate(&p.a, in_type, static_cast<uint64_t>(k.K), static_cast<uint64_t>(k.N),
                                        k.ldw),
             "layout w");
    check_lt(lt_.cublasLtMatrixLayoutCreate(&p.b, in_type, static_cast<uint64_t>(k.K), static_cast<uint64_t>(k.M),
                                        k.ldx),
             "layout x");
    check_lt(lt_.cublasLtMatrixLayoutCreate(&p.d, out_type, static_cast<uint64_t>(k.N), static_cast<uint64_t>(k.M),
                                        k.ldy),
             "layout y");
    cublasLtMatmulPreference_t pref = nullptr;
    check_lt(lt_.cublasLtMatmulPreferenceCreate(&pref), "preference");
    const uint64_t ws = workspace_bytes;
    lt_.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    lt_.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &k.align_w,
                                         sizeof(k.align_w));
    lt_.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &k.align_x,
                                         sizeof(k.align_x));
    lt_.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &k.align_y,
                                         sizeof(k.align_y));
    lt_.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &k.align_y,
                                         sizeof(k.align_y));
    cublasLtMatmulHeuristicResult_t result{};
    int returned = 0;
    const cublasStatus_t st =
        lt_.cublasLtMatmulAlgoGetHeuristic(handle_, p.op, p.a, p.b, p.d, p.d, pref, 1, &result, &returned);
    lt_.cublasLtMatmulPreferenceDestroy(pref);
    if (st == CUBLAS_STATUS_SUCCESS && returned > 0) {
      p.algo = result.algo;
      p.usable = true;
    }
  }

  const LtApi& lt_;
  cublasLtHandle_t handle_ = nullptr;
  std::mutex mu_;
  std::map<Key, Plan> plans_;
};

}  // namespace

std::unique_ptr<CublasLtGemm> CublasLtGemm::create(cudaStream_t, std::string* why) {
  const LtApi* api = lt_api(why);
  if (!api) return nullptr;
  return std::make_unique<LtImpl>(*api);
}

std::string CublasLtGemm::library(std::string* why) {
  const LtApi* api = lt_api(why);
  return api ? api->path : std::string();
}

}  // namespace wan::cuda

#else  // built without cublasLt.h

namespace wan::cuda {
static const char* kNoHeader = "built without cublasLt.h (CMake found no header: see WAN_CUBLASLT_INCLUDE)";
std::unique_ptr<CublasLtGemm> CublasLtGemm::create(cudaStream_t, std::string* why) {
  if (why) *why = kNoHeader;
  return nullptr;
}
std::string CublasLtGemm::library(std::string* why) {
  if (why) *why = kNoHeader;
  return {};
}
}  // namespace wan::cuda

#endif
