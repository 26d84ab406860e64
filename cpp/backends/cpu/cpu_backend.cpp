// The CPU backend's construction, memory, weights and copies. The ops live in cpu_<op>.cpp (dense,
// attention, norm, elementwise, embed, video, image), as the CUDA backend's live in cuda_<op>.cpp.
#include "backends/cpu/cpu_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <new>
#include <vector>

#include "backends/cpu/cpu_math.h"
#include "backends/cpu/gemm_bf16.h"
#include "core/error.h"
#include "core/gguf_blocks.h"

namespace wan {

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<cpu::CpuBackend>(threads); }

namespace cpu {

namespace {

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto pos = line.find(':');
      if (pos != std::string::npos) return line.substr(pos + 2);
    }
  }
  return "cpu";
}

}  // namespace

CpuBackend::CpuBackend(int threads) : pool_(threads), gemm_(pool_) {
  const char* precision = std::getenv("WAN_VIDEO_CPU_PRECISION");
  bf16_dot_ = precision && std::string(precision) == "bf16" && bf16_dot_available();
}

bool CpuBackend::set_bf16_dot(bool on) {
  bf16_dot_ = on && bf16_dot_available();
  return bf16_dot_;
}

BackendInfo CpuBackend::info() const {
  BackendInfo i;
  i.name = "cpu";
  i.gemm = gemm_.name();
  if (bf16_dot_)
    i.gemm += std::string(" + bf16 dot products for bf16 weights (") + bf16_dot_kernel() + ", opt-in precision bf16)";
  i.device = cpu_model_name();
  i.threads = pool_.size();
  return i;
}

Tensor CpuBackend::empty(const Shape& shape, DType dtype) {
  auto storage = std::make_shared<Storage>();
  const size_t bytes = dtype_bytes(dtype, shape_numel(shape));
  // 64-byte alignment for the SIMD kernels; round the size up as aligned_alloc requires.
  const size_t alloc = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, alloc);
  if (!p) fail("E_OOM", "cannot allocate " + std::to_string(bytes) + " bytes of host memory for " + shape_str(shape));
  storage->data = p;
  storage->bytes = bytes;
  storage->device = Device::CPU;
  storage->release = [](void* ptr) { std::free(ptr); };
  return Tensor(std::move(storage), dtype, shape);
}

Tensor CpuBackend::upload(const float* host, const Shape& shape) {
  Tensor t = empty(shape, DType::F32);
  std::memcpy(t.raw(), host, t.bytes());
  return t;
}

Tensor CpuBackend::upload_i32(const int32_t* host, const Shape& shape) {
  Tensor t = empty(shape, DType::I32);
  std::memcpy(t.raw(), host, t.bytes());
  return t;
}

// Matrices keep their stored dtype: widening per GEMM tile costs a few percent of a product at
// real token counts (the tile is reused by every row of activations), and a Q4_K matrix takes a
// seventh of the memory of its float32 copy. Embedding tables too (a prompt reads a few rows of
// UMT5's 1B-element table). F32 ones and every other use are float32.
Tensor CpuBackend::load_weight(const StoredWeight& w) {
  const bool keep = (w.use == WeightUse::Matrix || w.use == WeightUse::Table) && w.shape.size() == 2 &&
                    w.dtype != DType::F32;
  const int64_t n = shape_numel(w.shape);
  if (w.bytes != dtype_bytes(w.dtype, n))
    fail("E_MODEL_FORMAT", "weight \"" + w.name + "\": " + std::to_string(w.bytes) + " bytes for " +
                               dtype_name(w.dtype) + " " + shape_str(w.shape));
  // Opt-in bf16 precision: float matrices are rounded to bf16 once, here, for the dot products.
  if (bf16_dot_ && w.use == WeightUse::Matrix && w.shape.size() == 2 &&
      (w.dtype == DType::F32 || w.dtype == DType::F16 || (w.dtype == DType::BF16 && w.scale != 1.0f))) {
    std::vector<float> wide(static_cast<size_t>(n));
    dequantize(w.dtype, w.data, n, w.scale, wide.data());
    Tensor t = empty(w.shape, DType::BF16);
    uint16_t* d = t.data<uint16_t>();
    pool_.parallel_for(n, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        uint32_t u;
        std::memcpy(&u, &wide[i], 4);
        d[i] = (u & 0x7fffffffu) > 0x7f800000u ? static_cast<uint16_t>((u >> 16) | 0x40u)  // quiet NaN
                                                 : static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
      }
    }, 1 << 16);
    return t;
  }
  if (keep) {
    Tensor t = empty(w.shape, w.dtype);
    std::memcpy(t.raw(), w.data, w.bytes);
    t.set_scale(w.scale);
    return t;
  }
  Tensor t = empty(w.shape, DType::F32);
  // Large tensors widen in parallel (a 1B-element embedding table, a Q8_0 file's F16 matrices).
  const DTypeInfo& d = dtype_info(w.dtype);
  const int64_t blocks = n / d.block_elems;
  const auto* src = static_cast<const uint8_t*>(w.data);
  float* dst = t.f32();
  pool_.parallel_for(blocks, [&](int64_t b0, int64_t b1) {
    dequantize(w.dtype, src + b0 * d.block_bytes, (b1 - b0) * d.block_elems, w.scale, dst + b0 * d.block_elems);
  }, std::max<int64_t>(1, (int64_t{1} << 20) / d.block_elems));
  return t;
}

Tensor CpuBackend::mergeable_copy(const Tensor& base) {
  Tensor t = empty(base.shape(), DType::F32);
  download(base, t.f32());
  return t;
}

void CpuBackend::download(const Tensor& t, float* host) {
  if (t.dtype() == DType::F32) {
    std::memcpy(host, t.f32(), t.bytes());
    return;
  }
  dequantize(t.dtype(), t.raw(), t.numel(), t.scale(), host);
}

void CpuBackend::copy(const Tensor& src, Tensor& dst) {
  WAN_CHECK(src.bytes() == dst.bytes(), "copy between tensors of different sizes");
  std::memcpy(dst.raw(), src.raw(), src.bytes());
}

}  // namespace cpu
}  // namespace wan
