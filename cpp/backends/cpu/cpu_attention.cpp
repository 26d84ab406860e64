// Attention on the CPU: per batch and head, blocks of query rows against every key (QK^T as one
// GEMM, the relative-position bias and key mask, a row softmax, then PV), cancellable between blocks.
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_math.h"
#include "core/error.h"

namespace wan::cpu {

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

}  // namespace wan::cpu
