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
  explicit LtImpl(const LtApi& api) : lt_(api) { check_lt(lt_.cublasLtCreate(&handle_), "create"); }
  ~LtImpl() override {
    for (auto& [k, p] : plans_) {
      if (p.a) lt_.cublasLtMatrixLayoutDestroy(p.a);
      if (p.b) lt_.cublasLtMatrixLayoutDestroy(p.b);
      if (p.d) lt_.cublasLtMatrixLayoutDestroy(p.d);
      if (p.op) lt_.cublasLtMatmulDescDestroy(p.op);
    }
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

 private:
  Plan& plan(const Key& k, cublasLtEpilogue_t epi, size_t workspace_bytes) {
    auto it = plans_.find(k);
    if (it != plans_.end()) return it->second;
    Plan& p = plans_[k];
    check_lt(lt_.cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "descriptor");
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    check_lt(lt_.cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)), "transa");
    check_lt(lt_.cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)), "transb");
    check_lt(lt_.cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)), "epilogue");
    if (epi == CUBLASLT_EPILOGUE_BIAS || epi == CUBLASLT_EPILOGUE_GELU_BIAS) {
      const int32_t bias_type = CUDA_R_32F;  // f32 bias with an f32 output (also the default)
      check_lt(lt_.cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                              sizeof(bias_type)),
               "bias type");
    }
    check_lt(lt_.cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, static_cast<uint64_t>(k.K), static_cast<uint64_t>(k.N),
                                        k.ldw),
             "layout w");
    check_lt(lt_.cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, static_cast<uint64_t>(k.K), static_cast<uint64_t>(k.M),
                                        k.ldx),
             "layout x");
    check_lt(lt_.cublasLtMatrixLayoutCreate(&p.d, CUDA_R_32F, static_cast<uint64_t>(k.N), static_cast<uint64_t>(k.M),
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
    return p;
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
