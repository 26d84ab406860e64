// The bf16 dot-product GEMM (see gemm_bf16.h), in the GotoBLAS shape of gemm_portable.cpp with
// k counted in pairs: vdpbf16ps multiplies a 32-bit lane's two bf16 values by the other operand's
// two and adds both products to a float32 lane. So both operands are packed as 32-bit (k, k+1)
// pairs: A panels [pair][MR] (one pair broadcast per row), B panels [pair][NR] (16 lanes per zmm).
// A W row already holds its pairs contiguously, so packing B is a 32-bit transpose; packing A first
// rounds its floats to bf16.
//
// Micro-kernel 14 x 32: 28 zmm accumulators + 2 B vectors + 1 broadcast, as the float32 AVX-512
// kernel; per pair, 16 loads feed 28 dot products (56 multiply-adds per lane... 2x the FMA kernel).
#include "backends/cpu/gemm_bf16.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <vector>

#include "core/error.h"

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) && __GNUC__ >= 10 || defined(__clang__))
#define WAN_BF16_DOT 1
#include <immintrin.h>
#else
#define WAN_BF16_DOT 0
#endif

namespace wan::cpu {

#if WAN_BF16_DOT

namespace {

constexpr int MR = 14, NR = 32;
// Cache blocks in pairs / rows: an MC x KC2 A block (~130 KiB) stays in L2 across the B panels; a
// KC2 x NC B block (1.5 MiB) streams from L3.
constexpr int64_t KC2 = 192, MC = 168, NC = 2048;

#if defined(__GNUC__)
#define WAN_UNROLL_BF16 _Pragma("GCC unroll 32")
#else
#define WAN_UNROLL_BF16
#endif

__attribute__((target("avx512f,avx512bf16"))) void kernel(int64_t kc2, const uint32_t* __restrict__ a,
                                                          const uint32_t* __restrict__ b, float* c, int64_t ldc,
                                                          bool accumulate) {
  __m512 acc[MR][2];
  WAN_UNROLL_BF16 for (int i = 0; i < MR; ++i) {
    acc[i][0] = _mm512_setzero_ps();
    acc[i][1] = _mm512_setzero_ps();
  }
  for (int64_t p = 0; p < kc2; ++p, a += MR, b += NR) {
    const __m512bh b0 = (__m512bh)_mm512_load_si512(b);
    const __m512bh b1 = (__m512bh)_mm512_load_si512(b + 16);
    WAN_UNROLL_BF16 for (int i = 0; i < MR; ++i) {
      const __m512bh ai = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[i]));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
    }
  }
  const __mmask16 read_c = accumulate ? 0xFFFF : 0;
  WAN_UNROLL_BF16 for (int i = 0; i < MR; ++i) {
    float* r = c + i * ldc;
    _mm512_storeu_ps(r, _mm512_add_ps(acc[i][0], _mm512_maskz_loadu_ps(read_c, r)));
    _mm512_storeu_ps(r + 16, _mm512_add_ps(acc[i][1], _mm512_maskz_loadu_ps(read_c, r + 16)));
  }
}

// Rows of A [rows, k0 .. k0 + kc) rounded to bf16 (nearest even) into `stage` as 32-bit pairs,
// kc2 pairs per row (an odd tail pairs with zero).
__attribute__((target("avx512f,avx512bf16"))) void round_rows(const float* A, int64_t lda, int64_t rows, int64_t k0,
                                                              int64_t kc, int64_t kc2, uint32_t* stage) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* src = A + i * lda + k0;
    uint16_t* dst = reinterpret_cast<uint16_t*>(stage + i * kc2);
    int64_t k = 0;
    for (; k + 16 <= kc; k += 16) {
      const __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + k));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + k), (__m256i)h);
    }
    if (k < kc) {
      const __mmask16 m = static_cast<__mmask16>((1u << (kc - k)) - 1);
      const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + k));
      alignas(32) uint16_t tmp[16];
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), (__m256i)h);
      std::memcpy(dst + k, tmp, static_cast<size_t>(kc - k) * 2);
    }
    if (kc % 2) dst[kc] = 0;
  }
}

// dst[p * W + i] = src[i * ld + p] for i < rows (zero rows up to W), p < kc2: a 32-bit transpose.
template <int W>
void pack_pairs(const uint32_t* src, int64_t ld, int64_t rows, int64_t kc2, uint32_t* dst) {
  for (int64_t p0 = 0; p0 < kc2; p0 += 16) {
    const int64_t p1 = std::min(kc2, p0 + 16);
    for (int64_t i = 0; i < rows; ++i) {
      const uint32_t* s = src + i * ld;
      for (int64_t p = p0; p < p1; ++p) dst[p * W + i] = s[p];
    }
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t i = rows; i < W; ++i) dst[p * W + i] = 0;
  }
}

struct Buffers {
  std::vector<uint32_t> a, b, stage;
  alignas(64) float tile[MR * NR];
};

Buffers& buffers() {
  static thread_local Buffers b;
  return b;
}

// Over-allocates and aligns a vector's data to 64 bytes.
uint32_t* aligned(std::vector<uint32_t>& v, size_t n) {
  if (v.size() < n + 16) v.resize(n + 16);
  return reinterpret_cast<uint32_t*>((reinterpret_cast<uintptr_t>(v.data()) + 63) & ~uintptr_t(63));
}

struct Problem {
  int64_t M, N, K;
  const float* A;
  int64_t lda;
  const uint16_t* W;
  int64_t ldw;
  float* C;
  int64_t ldc;
};

void rectangle(const Problem& q, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  Buffers& buf = buffers();
  const int64_t K2 = (q.K + 1) / 2;
  const int64_t kc2_max = std::min(KC2, K2);
  const int64_t mc_max = std::min<int64_t>(MC, (m1 - m0 + MR - 1) / MR * MR);
  const int64_t nc_max = std::min<int64_t>(NC, (n1 - n0 + NR - 1) / NR * NR);
  uint32_t* bbuf = aligned(buf.b, static_cast<size_t>(nc_max * kc2_max));
  uint32_t* abuf = aligned(buf.a, static_cast<size_t>(mc_max * kc2_max));
  uint32_t* stage = aligned(buf.stage, static_cast<size_t>(std::max(mc_max, int64_t{NR}) * kc2_max));
  const bool odd = q.K % 2 != 0;
  for (int64_t jc = n0; jc < n1; jc += nc_max) {
    const int64_t nc = std::min(nc_max, n1 - jc);
    for (int64_t p0 = 0; p0 < K2; p0 += kc2_max) {
      const int64_t kc2 = std::min(kc2_max, K2 - p0);
      const int64_t k0 = 2 * p0, kc = std::min(2 * kc2, q.K - k0);
      // B: W's rows already hold (k, k+1) pairs; an odd K's last pair is staged with a zero.
      for (int64_t j = 0; j < nc; j += NR) {
        const int64_t rows = std::min<int64_t>(NR, nc - j);
        const uint16_t* wrow = q.W + (jc + j) * q.ldw + k0;
        if (!odd && q.ldw % 2 == 0) {
          pack_pairs<NR>(reinterpret_cast<const uint32_t*>(wrow), q.ldw / 2, rows, kc2, bbuf + j * kc2);
        } else {
          for (int64_t r = 0; r < rows; ++r) {
            uint16_t* d = reinterpret_cast<uint16_t*>(stage + r * kc2);
            std::memcpy(d, wrow + r * q.ldw, static_cast<size_t>(kc) * 2);
            if (kc % 2) d[kc] = 0;
          }
          pack_pairs<NR>(stage, kc2, rows, kc2, bbuf + j * kc2);
        }
      }
      for (int64_t ic = m0; ic < m1; ic += mc_max) {
        const int64_t mc = std::min(mc_max, m1 - ic);
        round_rows(q.A + ic * q.lda, q.lda, mc, k0, kc, kc2, stage);
        for (int64_t i = 0; i < mc; i += MR)
          pack_pairs<MR>(stage + i * kc2, kc2, std::min<int64_t>(MR, mc - i), kc2, abuf + i * kc2);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = std::min<int64_t>(NR, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min<int64_t>(MR, mc - ir);
            float* c = q.C + (ic + ir) * q.ldc + jc + jr;
            const bool acc = p0 > 0;
            if (mr == MR && nr == NR) {
              kernel(kc2, abuf + ir * kc2, bbuf + jr * kc2, c, q.ldc, acc);
            } else {
              kernel(kc2, abuf + ir * kc2, bbuf + jr * kc2, buf.tile, NR, false);
              for (int64_t i = 0; i < mr; ++i)
                for (int64_t j = 0; j < nr; ++j) c[i * q.ldc + j] = buf.tile[i * NR + j] + (acc ? c[i * q.ldc + j] : 0.0f);
            }
          }
        }
      }
    }
  }
}

}  // namespace

bool bf16_dot_available() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
  }();
  return ok;
}

void gemm_bf16_dot(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* W, int64_t ldw,
                   float* C, int64_t ldc, ThreadPool& pool) {
  if (!bf16_dot_available()) fail("E_UNSUPPORTED", "bf16 dot products need a CPU with avx512_bf16");
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
    return;
  }
  const Problem q{M, N, K, A, lda, W, ldw, C, ldc};
  const int threads = static_cast<int>(std::max<double>(1.0, std::min<double>(pool.size(), 2.0 * M * N * K / 4e6)));
  // Split N (each thread packs only its part of W) unless it is too narrow; then split M.
  const int64_t nu = (N + NR - 1) / NR, mu = (M + MR - 1) / MR;
  const bool by_n = nu >= threads || nu >= mu;
  const int64_t units = by_n ? nu : mu;
  const int parts = static_cast<int>(std::min<int64_t>(threads, units));
  std::mutex err_mu;
  std::exception_ptr err;
  pool.parallel_for(parts, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t u0 = units * t / parts, u1 = units * (t + 1) / parts;
      try {
        if (by_n) rectangle(q, 0, M, std::min(N, u0 * NR), std::min(N, u1 * NR));
        else rectangle(q, std::min(M, u0 * MR), std::min(M, u1 * MR), 0, N);
      } catch (...) {
        std::lock_guard<std::mutex> lock(err_mu);
        if (!err) err = std::current_exception();
      }
    }
  }, 1);
  if (err) std::rethrow_exception(err);
}

#else  // no AVX512-BF16 in this build

bool bf16_dot_available() { return false; }

void gemm_bf16_dot(int64_t, int64_t, int64_t, const float*, int64_t, const uint16_t*, int64_t, float*, int64_t,
                   ThreadPool&) {
  fail("E_UNSUPPORTED", "bf16 dot products need an x86-64 build with avx512_bf16");
}

#endif

}  // namespace wan::cpu
