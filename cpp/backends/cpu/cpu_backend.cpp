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

int64_t rows_of(const Tensor& t) { return t.numel() / t.dim(-1); }

constexpr int64_t kPanelMacs = int64_t{1} << 32;

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

WAN_SIMD_CLONES void apply_activation(float* x, int64_t n, Activation act) {
  switch (act) {
    case Activation::None: break;
    case Activation::GeluTanh:
      for (int64_t i = 0; i < n; ++i) x[i] = gelu_tanh(x[i]);
      break;
    case Activation::GeluErf:
      for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
      break;
    case Activation::Silu:
      for (int64_t i = 0; i < n; ++i) x[i] = silu(x[i]);
      break;
  }
}

namespace {
WAN_SIMD_CLONES void add_bias_row(float* y, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += b[i];
}
}  // namespace

void CpuBackend::linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act, Tensor& y) {
  const int64_t K = x.dim(-1), M = rows_of(x), N = w.dim(0);
  WAN_CHECK(w.rank() == 2 && w.dim(1) == K, "linear: weight " + shape_str(w.shape()) + " for input " + shape_str(x.shape()));
  WAN_CHECK(y.dim(-1) == N && rows_of(y) == M, "linear: output " + shape_str(y.shape()));
  // Row panels of about 2^32 multiply-adds (tens of milliseconds here), the job's cancel polled
  // between them: at 2048x2048 one product over every token takes a minute. A panel keeps hundreds
  // of rows, where the GEMM runs at full speed; rows are independent, so the split changes nothing
  // (a compressed weight is widened again per panel: at least 256 rows share each widening).
  const int64_t panel = M * N * K <= kPanelMacs ? M : std::max<int64_t>(256, kPanelMacs / std::max<int64_t>(1, N * K));
  WeightRows rows;
  rows.dtype = w.dtype();
  rows.data = static_cast<const uint8_t*>(w.raw());
  rows.row_bytes = dtype_bytes(w.dtype(), K);
  rows.scale = w.scale();
  for (int64_t m0 = 0; m0 < M; m0 += panel) {
    if (m0 > 0) check_cancel("in a matrix product");
    const int64_t m = std::min(panel, M - m0);
    const float* xp = x.f32() + m0 * K;
    float* yp = y.f32() + m0 * N;
    if (w.dtype() == DType::F32) {
      gemm_(true, m, N, K, 1.0f, xp, K, w.f32(), K, 0.0f, yp, N);
    } else if (bf16_dot_ && w.dtype() == DType::BF16 && w.scale() == 1.0f) {
      gemm_bf16_dot(m, N, K, xp, K, w.data<uint16_t>(), K, yp, N, pool_);
    } else {
      gemm_.widened(m, N, K, xp, K, rows, yp, N);
    }
  }
  if (!bias && act == Activation::None) return;
  const float* b = bias ? bias->f32() : nullptr;
  float* out = y.f32();
  pool_.parallel_for(M, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* row = out + r * N;
      if (b) add_bias_row(row, b, N);
      apply_activation(row, N, act);
    }
  }, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, N)));
}

namespace {
// Softmax of each row in place; rows are independent.
WAN_SIMD_CLONES void softmax_row(float* s, int64_t n) {
  float m = s[0];
  for (int64_t i = 1; i < n; ++i) m = s[i] > m ? s[i] : m;
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    s[i] = fast_exp(s[i] - m);
    sum += s[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) s[i] *= inv;
}
}  // namespace

void CpuBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p, Tensor& out) {
  const int64_t B = q.dim(0), Sq = q.dim(1), HD = q.dim(2), Sk = k.dim(1);
  WAN_CHECK(q.rank() == 3 && k.rank() == 3 && v.rank() == 3 && k.dim(0) == B && v.dim(0) == B && k.dim(2) == HD &&
                v.dim(2) == HD && v.dim(1) == Sk && out.shape() == q.shape() && HD % p.heads == 0,
            "attention shapes q " + shape_str(q.shape()) + " k " + shape_str(k.shape()) + " v " + shape_str(v.shape()));
  const int64_t D = HD / p.heads;
  const float* bias_table = p.bias.table ? p.bias.table->f32() : nullptr;
  const int32_t* bias_bucket = p.bias.buckets ? p.bias.buckets->i32() : nullptr;
  WAN_CHECK(!bias_table || (bias_bucket && p.bias.buckets->numel() == Sq * Sk && p.bias.table->dim(1) == p.heads),
            "attention: relative bias shapes");
  const int32_t* mask = p.key_mask ? p.key_mask->i32() : nullptr;
  WAN_CHECK(!mask || p.key_mask->numel() == B * Sk, "attention: key mask shape");
  if (Sk == 0) {
    if (!p.accumulate) std::memset(out.raw(), 0, out.bytes());
    return;
  }
  // Scores for a block of query rows at a time, so memory stays bounded at any sequence length.
  const int64_t block = std::max<int64_t>(1, std::min<int64_t>(Sq, (int64_t{1} << 22) / Sk));
  std::vector<float> scores(static_cast<size_t>(block * Sk));
  const float* qd = q.f32();
  const float* kd = k.f32();
  const float* vd = v.f32();
  float* od = out.f32();
  for (int64_t b = 0; b < B; ++b) {
    for (int h = 0; h < p.heads; ++h) {
      const float* kh = kd + b * Sk * HD + h * D;
      const float* vh = vd + b * Sk * HD + h * D;
      for (int64_t q0 = 0; q0 < Sq; q0 += block) {
        check_cancel("in attention");
        const int64_t rows = std::min(block, Sq - q0);
        const float* qh = qd + (b * Sq + q0) * HD + h * D;
        float* oh = od + (b * Sq + q0) * HD + h * D;
        gemm_(true, rows, Sk, D, p.scale, qh, HD, kh, HD, 0.0f, scores.data(), Sk);
        float* s = scores.data();
        pool_.parallel_for(rows, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            float* row = s + r * Sk;
            if (bias_table) {
              const int32_t* bucket = bias_bucket + (q0 + r) * Sk;
              for (int64_t j = 0; j < Sk; ++j) row[j] += bias_table[bucket[j] * p.heads + h];
            }
            if (mask) {
              // The reference adds float32's lowest value to masked scores: they vanish in the softmax.
              const int32_t* m = mask + b * Sk;
              for (int64_t j = 0; j < Sk; ++j)
                if (!m[j]) row[j] = std::numeric_limits<float>::lowest();
            }
            softmax_row(row, Sk);
          }
        }, std::max<int64_t>(1, 8192 / Sk));
        gemm_(false, rows, D, Sk, 1.0f, s, Sk, vh, HD, p.accumulate ? 1.0f : 0.0f, oh, HD);
      }
    }
  }
}

}  // namespace cpu
}  // namespace wan
