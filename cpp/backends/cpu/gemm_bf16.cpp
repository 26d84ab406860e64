// The bf16 dot-product GEMM (see gemm_bf16.h), in the GotoBLAS shape of gemm_portable.cpp with
// k counted in pairs: both bf16 instructions used here multiply 32-bit lanes holding two bf16
// values, (k, k+1), and add both products to a float32 accumulator. So both operands are packed as
// 32-bit pairs: A rows rounded to bf16 ([row][pair]), B panels [pair][32 columns]. A W row already
// holds its pairs contiguously, so packing B is a 32-bit transpose.
//
// Two micro-kernels, picked once:
//   amx     Intel AMX (tdpbf16ps): 32 x 32 outputs in four 16x16 float32 tiles, A and B streamed
//           through four more tiles 16 pairs deep. Where the CPU has AMX-BF16 and the kernel grants
//           the tile state (arch_prctl ARCH_REQ_XCOMP_PERM), as on Xeon Sapphire Rapids.
//   avx512  AVX512-BF16 (vdpbf16ps): 14 x 32 in 28 zmm accumulators, as the float32 AVX-512 kernel;
//           twice the multiply-adds per instruction of an FMA. Worth it where vdpbf16ps issues as
//           fast as an FMA (AMD Zen 4); on the Xeon this was written on it measured 0.7x the float32
//           kernel (several uops per instruction), which is why AMX comes first.
#include "backends/cpu/gemm_bf16.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <vector>

#include "core/error.h"

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

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

// ---- AMX: tiles 0-3 accumulate C (2 x 2 blocks of 16 x 16 float32), 4-5 hold A (16 rows x 16
// pairs each), 6-7 hold B (16 pairs x 16 columns each, the packed panel's two halves).
constexpr int AMX_MR = 32;

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Eight tiles of 16 rows x 64 bytes. A static object: GCC does not see ldtilecfg read all 64
// bytes, and dropped the zeroing of the unused tiles' fields of a stack copy (a #GP at run time).
const TileConfig& tile_config() {
  static const TileConfig cfg = [] {
    TileConfig c;
    for (int t = 0; t < 8; ++t) {
      c.colsb[t] = 64;
      c.rows[t] = 16;
    }
    return c;
  }();
  return cfg;
}

__attribute__((target("amx-tile,amx-bf16"))) void amx_configure() { _tile_loadconfig(&tile_config()); }

__attribute__((target("amx-tile,amx-bf16"))) void amx_release() { _tile_release(); }

// out[32 x 32] (row stride 32) = A[32 rows, kc2p pairs] (row stride lda pairs) * B panel
// [kc2p pairs][32]; kc2p a multiple of 16.
__attribute__((target("amx-tile,amx-bf16"))) void amx_kernel(int64_t kc2p, const uint32_t* a, int64_t lda,
                                                             const uint32_t* b, float* out) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const int64_t sa = lda * 4;
  for (int64_t p = 0; p < kc2p; p += 16) {
    _tile_loadd(4, a + p, sa);
    _tile_loadd(5, a + 16 * lda + p, sa);
    _tile_loadd(6, b + p * NR, NR * 4);
    _tile_loadd(7, b + p * NR + 16, NR * 4);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, out, NR * 4);
  _tile_stored(1, out + 16, NR * 4);
  _tile_stored(2, out + 16 * NR, NR * 4);
  _tile_stored(3, out + 16 * NR + 16, NR * 4);
}

bool amx_usable() {
  static const bool ok = [] {
    __builtin_cpu_init();
#if defined(__linux__) && defined(SYS_arch_prctl)
    // The tile data state must be granted to the process before its first use (Linux 5.16+).
    constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return __builtin_cpu_supports("amx-bf16") && __builtin_cpu_supports("amx-tile") &&
           syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;
#endif
  }();
  return ok;
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
  alignas(64) float tile[AMX_MR * NR];
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

// The AMX form of rectangle(): A is used straight from its rounded rows (padded to 32 rows and 16
// pairs with zeros), so only B is packed.
void rectangle_amx(const Problem& q, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  Buffers& buf = buffers();
  const int64_t K2 = (q.K + 1) / 2;
  const int64_t kc2_max = std::min<int64_t>(256, (K2 + 15) / 16 * 16);
  const int64_t mc_max = std::min<int64_t>(256, (m1 - m0 + AMX_MR - 1) / AMX_MR * AMX_MR);
  const int64_t nc_max = std::min<int64_t>(NC, (n1 - n0 + NR - 1) / NR * NR);
  uint32_t* bbuf = aligned(buf.b, static_cast<size_t>(nc_max * kc2_max));
  uint32_t* stage = aligned(buf.stage, static_cast<size_t>(std::max(mc_max, int64_t{NR}) * kc2_max));
  const bool odd = q.K % 2 != 0;
  amx_configure();
  for (int64_t jc = n0; jc < n1; jc += nc_max) {
    const int64_t nc = std::min(nc_max, n1 - jc);
    for (int64_t p0 = 0; p0 < K2; p0 += kc2_max) {
      const int64_t kc2 = std::min(kc2_max, K2 - p0), kc2p = (kc2 + 15) / 16 * 16;
      const int64_t k0 = 2 * p0, kc = std::min(2 * kc2, q.K - k0);
      for (int64_t j = 0; j < nc; j += NR) {
        const int64_t rows = std::min<int64_t>(NR, nc - j);
        const uint16_t* wrow = q.W + (jc + j) * q.ldw + k0;
        uint32_t* dst = bbuf + j * kc2p;
        if (!odd && q.ldw % 2 == 0) {
          pack_pairs<NR>(reinterpret_cast<const uint32_t*>(wrow), q.ldw / 2, rows, kc2, dst);
        } else {
          for (int64_t r = 0; r < rows; ++r) {
            uint16_t* d = reinterpret_cast<uint16_t*>(stage + r * kc2);
            std::memcpy(d, wrow + r * q.ldw, static_cast<size_t>(kc) * 2);
            if (kc % 2) d[kc] = 0;
          }
          pack_pairs<NR>(stage, kc2, rows, kc2, dst);
        }
        std::fill(dst + kc2 * NR, dst + kc2p * NR, 0u);
      }
      for (int64_t ic = m0; ic < m1; ic += mc_max) {
        const int64_t mc = std::min(mc_max, m1 - ic), mcp = (mc + AMX_MR - 1) / AMX_MR * AMX_MR;
        round_rows(q.A + ic * q.lda, q.lda, mc, k0, kc, kc2p, stage);
        for (int64_t i = 0; i < mcp; ++i)  // zero pair padding, and zero rows past mc
          std::fill(stage + i * kc2p + (i < mc ? (kc + 1) / 2 : 0), stage + (i + 1) * kc2p, 0u);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = std::min<int64_t>(NR, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += AMX_MR) {
            const int64_t mr = std::min<int64_t>(AMX_MR, mc - ir);
            amx_kernel(kc2p, stage + ir * kc2p, kc2p, bbuf + jr * kc2p, buf.tile);
            float* c = q.C + (ic + ir) * q.ldc + jc + jr;
            for (int64_t i = 0; i < mr; ++i) {
              float* ci = c + i * q.ldc;
              const float* ti = buf.tile + i * NR;
              if (p0 == 0) std::memcpy(ci, ti, static_cast<size_t>(nr) * 4);
              else
                for (int64_t j = 0; j < nr; ++j) ci[j] += ti[j];
            }
          }
        }
      }
    }
  }
  amx_release();
}

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

bool bf16_dot_available() { return bf16_dot_kernel() != nullptr; }

const char* bf16_dot_kernel() {
  static const char* k = [] {
    if (const char* force = std::getenv("WAN_VIDEO_BF16_KERNEL"); force && std::strcmp(force, "avx512") == 0) {
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx512bf16") ? "avx512_bf16" : static_cast<const char*>(nullptr);
    }
    if (amx_usable()) return "amx_bf16";
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16") ? "avx512_bf16"
                                                                                       : static_cast<const char*>(nullptr);
  }();
  return k;
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
  const bool amx = std::strcmp(bf16_dot_kernel(), "amx_bf16") == 0;
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
        auto run = amx ? rectangle_amx : rectangle;
        if (by_n) run(q, 0, M, std::min(N, u0 * NR), std::min(N, u1 * NR));
        else run(q, std::min(M, u0 * MR), std::min(M, u1 * MR), 0, N);
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
const char* bf16_dot_kernel() { return nullptr; }

void gemm_bf16_dot(int64_t, int64_t, int64_t, const float*, int64_t, const uint16_t*, int64_t, float*, int64_t,
                   ThreadPool&) {
  fail("E_UNSUPPORTED", "bf16 dot products need an x86-64 build with avx512_bf16");
}

#endif

}  // namespace wan::cpu
