// The CUDA backend's device, stream, memory and copies. The ops live in cuda_<op>.cpp (dense, attention,
// norm, elementwise, embed, video, image), as the CPU backend's live in cpu_<op>.cpp.
#include "backends/cuda/cuda_backend.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cuda/cublaslt_gemm.h"
#include "backends/cuda/cuda_error.h"
#include "backends/cuda/make_cuda_backend.h"
#include "cuda/kernels/dequant.h"

namespace wan::cuda {

void check_launch(const char* op) {
  const cudaError_t st = cudaGetLastError();
  if (st != cudaSuccess) fail_cuda(st, op, "kernel launch");
}

void require_f32(const Tensor& t, const char* op, const char* what) {
  if (t.dtype() != DType::F32)
    fail("E_NATIVE", std::string(op) + ": " + what + " must be F32, got " + dtype_name(t.dtype()));
}

void require_cuda(const Tensor& t, const char* op, const char* what) {
  if (!t.defined() || t.device() != Device::CUDA)
    fail("E_NATIVE", std::string(op) + ": " + what + " is not a CUDA tensor");
}

void require_device_f32(const Tensor& t, const char* op, const char* what) {
  require_cuda(t, op, what);
  require_f32(t, op, what);
}

void require_device_i32(const Tensor& t, const char* op, const char* what) {
  require_cuda(t, op, what);
  if (t.dtype() != DType::I32) fail("E_NATIVE", std::string(op) + ": " + what + " must be I32");
}

int64_t rows_of(const Tensor& t) { return t.dim(-1) ? t.numel() / t.dim(-1) : 0; }

int to_int(int64_t v, const char* op, const char* what) {
  if (v < 0 || v > INT32_MAX) fail("E_INVALID_ARGUMENT", std::string(op) + ": " + what + " out of range");
  return static_cast<int>(v);
}

void refuse_if(const char* why, const char* op) {
  if (why) fail("E_INVALID_ARGUMENT", std::string(op) + ": " + why);
}

void check_status(int st, const char* op) {
  if (st != 0) fail_cuda(static_cast<cudaError_t>(st), op);
}

uint16_t f32_to_bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return static_cast<uint16_t>(u >> 16);
}

namespace {
bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}
}  // namespace

CudaBackend::CudaBackend(int device) : device_(device) {
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  cudaDeviceProp prop;
  check_cuda(cudaGetDeviceProperties(&prop, device_), "cudaGetDeviceProperties");
  sm_ = prop.major * 10 + prop.minor;
  sm_count_ = prop.multiProcessorCount;
  device_name_ = prop.name;
  if (sm_ < 80)
    fail("E_DEVICE", device_name_ + " has compute capability " + std::to_string(prop.major) + "." +
                         std::to_string(prop.minor) + "; the CUDA backend needs 8.0 or newer (bf16 tensor cores)");
  check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  pool_ = std::make_shared<DevicePool>(device_);
  sync_every_op_ = env_flag("WAN_VIDEO_CUDA_SYNC");
  const char* attn = std::getenv("WAN_VIDEO_ATTENTION");
  simple_attention_only_ = attn && std::strcmp(attn, "simple") == 0;
  const char* lt_gelu = std::getenv("WAN_VIDEO_LT_GELU");
  lt_gelu_ = !(lt_gelu && std::strcmp(lt_gelu, "0") == 0);
  // WAN_VIDEO_GEMM=mma-sync never touches cuBLASLt (a broken library costs nothing then).
  const char* gemm = std::getenv("WAN_VIDEO_GEMM");
  const bool forced_mma = gemm && std::strcmp(gemm, "mma-sync") == 0;
  // A cuBLASLt that fails to start (its handle, or the workspace's memory) leaves this backend on
  // the mma.sync GEMM, saying why, rather than failing the whole CUDA backend.
  if (!forced_mma) {
    try {
      lt_ = CublasLtGemm::create(stream_, &lt_missing_);
      if (lt_) lt_workspace_ = empty({static_cast<int64_t>(CublasLtGemm::kWorkspaceBytes)}, DType::F8_E4M3);
    } catch (const Error& e) {
      lt_.reset();
      lt_workspace_ = Tensor();
      lt_missing_ = std::string("cuBLASLt failed to start: ") + e.what();
    }
  }
  fp8_wanted_ = env_flag("WAN_VIDEO_FP8_GEMM");
  set_portable_gemm(forced_mma);
}

CudaBackend::~CudaBackend() {
  lt_.reset();
  lt_workspace_ = Tensor();
  if (stream_) {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }
}

void CudaBackend::set_portable_gemm(bool portable) {
  portable_gemm_ = portable || !lt_;
  // cuBLASLt's fp8 kernels exist from compute capability 8.9 (Ada) on.
  fp8_gemm_ = fp8_wanted_ && !portable_gemm_ && sm_ >= 89;
  gemm_name_ = portable_gemm_ ? "mma-sync" : fp8_gemm_ ? "cublaslt+fp8" : "cublaslt";
  gemm_note_ = portable ? "" : lt_missing_;
  if (fp8_wanted_ && !fp8_gemm_ && gemm_note_.empty())
    gemm_note_ = portable_gemm_ ? "fp8 GEMM needs cuBLASLt" : "fp8 GEMM needs compute capability 8.9+, this is " +
                                                                 std::to_string(sm_ / 10) + "." + std::to_string(sm_ % 10);
}

bool CudaBackend::set_fp8_gemm(bool on) {
  fp8_wanted_ = on;
  set_portable_gemm(portable_gemm_ && lt_);
  return fp8_gemm_;
}

void CudaBackend::enter() const { cudaSetDevice(device_); }

void CudaBackend::after(const char* op) const {
  check_launch(op);
  if (sync_every_op_) check_cuda(cudaStreamSynchronize(stream_), op, "while running (WAN_VIDEO_CUDA_SYNC)");
}

void CudaBackend::synchronize() {
  enter();
  check_cuda(cudaStreamSynchronize(stream_), "synchronize");
}

BackendInfo CudaBackend::info() const {
  BackendInfo i;
  i.name = "cuda";
  i.gemm = gemm_note_.empty() ? gemm_name_
                              : gemm_name_ + (lt_missing_.empty() ? " (" : " (no cuBLASLt: ") + gemm_note_ + ")";
  i.device = device_name_;
  i.threads = sm_count_;
  i.memory = pool_->stats();
  // What a new load can still get: the driver's free memory (the pool's cached blocks come on top).
  size_t free = 0, total = 0;
  cudaSetDevice(device_);
  if (cudaMemGetInfo(&free, &total) == cudaSuccess) {
    i.memory.device_free = free;
    i.memory.device_total = total;
  } else {
    (void)cudaGetLastError();
  }
  return i;
}

void CudaBackend::trim() { pool_->trim(); }

Tensor CudaBackend::empty(const Shape& shape, DType dtype) {
  for (int64_t d : shape)
    if (d < 0) fail("E_NATIVE", "empty: negative dimension in " + shape_str(shape));
  enter();
  const size_t bytes = dtype_bytes(dtype, shape_numel(shape));
  auto storage = std::make_shared<Storage>();
  storage->data = pool_->allocate(bytes, ("tensor " + shape_str(shape)).c_str(), exact_alloc_);
  storage->bytes = bytes;
  storage->device = Device::CUDA;
  std::shared_ptr<DevicePool> pool = pool_;  // the pool outlives the backend while tensors do
  storage->release = [pool](void* p) { pool->release(p); };
  return Tensor(std::move(storage), dtype, shape);
}

Tensor CudaBackend::upload(const float* host, const Shape& shape) {
  Tensor t = empty(shape, DType::F32);
  // From pageable memory the copy returns once the source is staged: the caller may free it.
  if (t.bytes()) check_cuda(cudaMemcpyAsync(t.raw(), host, t.bytes(), cudaMemcpyHostToDevice, stream_), "upload");
  return t;
}

Tensor CudaBackend::upload_i32(const int32_t* host, const Shape& shape) {
  Tensor t = empty(shape, DType::I32);
  if (t.bytes()) check_cuda(cudaMemcpyAsync(t.raw(), host, t.bytes(), cudaMemcpyHostToDevice, stream_), "upload_i32");
  return t;
}

static_assert(static_cast<int>(WeightFormat::F32) == static_cast<int>(DType::F32) &&
                  static_cast<int>(WeightFormat::F16) == static_cast<int>(DType::F16) &&
                  static_cast<int>(WeightFormat::BF16) == static_cast<int>(DType::BF16) &&
                  static_cast<int>(WeightFormat::F8_E4M3) == static_cast<int>(DType::F8_E4M3) &&
                  static_cast<int>(WeightFormat::Q8_0) == static_cast<int>(DType::Q8_0) &&
                  static_cast<int>(WeightFormat::Q4_0) == static_cast<int>(DType::Q4_0) &&
                  static_cast<int>(WeightFormat::Q4_1) == static_cast<int>(DType::Q4_1) &&
                  static_cast<int>(WeightFormat::Q5_0) == static_cast<int>(DType::Q5_0) &&
                  static_cast<int>(WeightFormat::Q5_1) == static_cast<int>(DType::Q5_1) &&
                  static_cast<int>(WeightFormat::Q2_K) == static_cast<int>(DType::Q2_K) &&
                  static_cast<int>(WeightFormat::Q3_K) == static_cast<int>(DType::Q3_K) &&
                  static_cast<int>(WeightFormat::Q4_K) == static_cast<int>(DType::Q4_K) &&
                  static_cast<int>(WeightFormat::Q5_K) == static_cast<int>(DType::Q5_K) &&
                  static_cast<int>(WeightFormat::Q6_K) == static_cast<int>(DType::Q6_K),
              "WeightFormat mirrors wan::DType");

namespace {
// A weight as [rows, cols] with whole blocks along cols: rank-0/1 tensors are one row.
void rows_cols(const Shape& shape, int64_t* rows, int64_t* cols) {
  *cols = shape.empty() ? 1 : shape.back();
  *rows = *cols ? shape_numel(shape) / *cols : 0;
}
bool kept_compressed(DType d) { return d == DType::F8_E4M3 || dtype_is_block(d); }
}  // namespace

Tensor CudaBackend::decode(const Tensor& src, bool to_bf16, int64_t ld, const char* op) {
  int64_t rows = 0, cols = 0;
  rows_cols(src.shape(), &rows, &cols);
  if (!to_bf16) ld = cols;
  Tensor out = to_bf16 ? empty({rows, ld}, DType::BF16) : empty(src.shape(), DType::F32);
  enter();
  if (ld != cols && out.bytes()) check_cuda(cudaMemsetAsync(out.raw(), 0, out.bytes(), stream_), op);
  DequantParams p;
  p.src = src.raw();
  p.format = static_cast<WeightFormat>(src.dtype());
  p.rows = rows;
  p.cols = cols;
  p.src_row_bytes = dtype_bytes(src.dtype(), cols);
  p.scale = src.scale();
  p.dst = out.raw();
  p.dst_ld = ld;
  p.dst_bf16 = to_bf16;
  launch_dequant(p, stream_);
  after(op);
  return out;
}

// The stored bytes go to the device as they are; anything that must change representation is
// decoded there (no float32 copy on the host). Matrices: bf16 as stored, f16/f32 to bf16 (the
// precision the products read), fp8 and GGUF blocks kept compressed (linear() decodes them per
// product). Tables: bf16. Everything else: float32.
namespace {
// Sets a flag for a scope and puts it back, whatever happens.
class FlagScope {
 public:
  explicit FlagScope(bool& f) : f_(f), was_(f) { f_ = true; }
  ~FlagScope() { f_ = was_; }

 private:
  bool& f_;
  bool was_;
};
}  // namespace

Tensor CudaBackend::empty_exact(const Shape& shape, DType dtype) {
  FlagScope exact(exact_alloc_);
  return empty(shape, dtype);
}

Tensor CudaBackend::load_weight(const StoredWeight& w) {
  FlagScope exact(exact_alloc_);  // the weight and its decode's temporary
  const int64_t n = shape_numel(w.shape);
  if (w.dtype == DType::I32 || w.bytes != dtype_bytes(w.dtype, n))
    fail("E_MODEL_FORMAT", "weight \"" + w.name + "\": " + std::to_string(w.bytes) + " bytes for " +
                               dtype_name(w.dtype) + " " + shape_str(w.shape));
  const bool two_d = w.shape.size() == 2;
  const bool matrix = w.use == WeightUse::Matrix && two_d;
  const bool table = w.use == WeightUse::Table && two_d;
  enter();
  auto upload_bytes = [&](DType as) {
    Tensor t = empty(w.shape, as);
    t.set_scale(w.scale);
    if (w.bytes) check_cuda(cudaMemcpyAsync(t.raw(), w.data, w.bytes, cudaMemcpyHostToDevice, stream_), "load_weight");
    return t;
  };
  Tensor out;
  if (matrix && kept_compressed(w.dtype)) {
    out = upload_bytes(w.dtype);
  } else {
    const bool bf16 = matrix || table;
    const DType want = bf16 ? DType::BF16 : DType::F32;
    if (w.dtype == want && w.scale == 1.0f) {
      out = upload_bytes(want);
    } else {
      Tensor stored = upload_bytes(w.dtype);  // released to the pool once the decode is enqueued
      int64_t rows = 0, cols = 0;
      rows_cols(w.shape, &rows, &cols);
      out = decode(stored, bf16, cols, "load_weight").view(w.shape);
    }
  }
  // The source may be a file map the caller releases next: pageable copies are staged before
  // cudaMemcpyAsync returns, but synchronise anyway so that this holds for pinned memory too.
  check_cuda(cudaStreamSynchronize(stream_), "load_weight");
  return out;
}

// A LoRA merges into bf16 for matrices (the precision every product reads them in: float32 storage
// would be rounded there anyway) and float32 otherwise; compressed bases are decoded, never
// re-quantized.
Tensor CudaBackend::mergeable_copy(const Tensor& base) {
  require_cuda(base, "mergeable_copy", "base");
  if (base.dtype() == DType::F32 || base.dtype() == DType::BF16) {
    if (base.scale() != 1.0f) return decode(base, false, 0, "mergeable_copy");
    Tensor t = empty(base.shape(), base.dtype());
    copy(base, t);
    return t;
  }
  const bool matrix = base.rank() == 2;
  return decode(base, matrix, base.dim(-1), "mergeable_copy").view(base.shape());
}

void CudaBackend::download(const Tensor& t, float* host) {
  require_cuda(t, "download", "source");
  enter();
  if (t.dtype() != DType::F32 || t.scale() != 1.0f) {
    WAN_CHECK(t.dtype() != DType::I32, "download of an I32 tensor");
    const Tensor wide = decode(t, false, 0, "download");
    download(wide, host);
    return;
  }
  if (t.bytes()) check_cuda(cudaMemcpyAsync(host, t.raw(), t.bytes(), cudaMemcpyDeviceToHost, stream_), "download");
  // Faults of earlier kernels surface here (the stream executes them before the copy).
  check_cuda(cudaStreamSynchronize(stream_), "download", "an earlier op on the stream may have failed");
}

void CudaBackend::copy(const Tensor& src, Tensor& dst) {
  WAN_CHECK(src.bytes() == dst.bytes(), "copy between tensors of different sizes");
  require_cuda(src, "copy", "source");
  require_cuda(dst, "copy", "destination");
  enter();
  if (src.bytes() && src.raw() != dst.raw())
    check_cuda(cudaMemcpyAsync(dst.raw(), src.raw(), src.bytes(), cudaMemcpyDeviceToDevice, stream_), "copy");
  after("copy");
}

int cuda_device_from_env() {
  const char* v = std::getenv("WAN_VIDEO_CUDA_DEVICE");
  return v && *v ? std::atoi(v) : 0;
}

std::unique_ptr<Backend> make_cuda_backend(int device, std::string* why) {
  int count = 0;
  const cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess) {
    (void)cudaGetLastError();
    if (why) *why = std::string("no CUDA device: ") + cudaGetErrorString(st);
    return nullptr;
  }
  if (device < 0 || device >= count) {
    if (why) *why = "CUDA device " + std::to_string(device) + " requested, " + std::to_string(count) + " present";
    return nullptr;
  }
  try {
    return std::make_unique<CudaBackend>(device);
  } catch (const Error& e) {
    if (why) *why = e.what();
    return nullptr;
  }
}

}  // namespace wan::cuda
