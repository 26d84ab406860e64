// The CUDA backend's device, stream, memory and copies; the ops live in cuda_backend_*.cpp.
#include "backends/cuda/cuda_backend.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cuda/cublaslt_gemm.h"
#include "backends/cuda/cuda_error.h"
#include "backends/cuda/make_cuda_backend.h"

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
  if (!forced_mma) lt_ = CublasLtGemm::create(stream_, &lt_missing_);
  if (lt_) lt_workspace_ = empty({static_cast<int64_t>(CublasLtGemm::kWorkspaceBytes)}, DType::F8_E4M3);
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
  gemm_name_ = portable_gemm_ ? "mma-sync" : "cublaslt";
  gemm_note_ = portable ? "" : lt_missing_;
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
  i.gemm = gemm_note_.empty() ? gemm_name_ : gemm_name_ + " (no cuBLASLt: " + gemm_note_ + ")";
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
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  auto storage = std::make_shared<Storage>();
  storage->data = pool_->allocate(bytes, ("tensor " + shape_str(shape)).c_str());
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

Tensor CudaBackend::upload_weight(const float* host, const Shape& shape) {
  if (shape.size() != 2) return upload(host, shape);
  // Matrices as bf16, rounded on the host: half the transfer and no float32 copy on the device.
  const int64_t n = shape_numel(shape);
  std::vector<uint16_t> bits(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) bits[i] = f32_to_bf16_bits(host[i]);
  Tensor t = empty(shape, DType::BF16);
  if (t.bytes()) {
    check_cuda(cudaMemcpyAsync(t.raw(), bits.data(), t.bytes(), cudaMemcpyHostToDevice, stream_), "upload_weight");
    // `bits` dies here; pageable copies are staged before returning, but synchronise anyway so
    // that this holds for pinned-memory allocators too.
    check_cuda(cudaStreamSynchronize(stream_), "upload_weight");
  }
  return t;
}

void CudaBackend::download(const Tensor& t, float* host) {
  require_cuda(t, "download", "source");
  require_f32(t, "download", "source");
  enter();
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
