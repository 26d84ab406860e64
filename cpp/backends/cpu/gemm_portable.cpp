// Portable SGEMM in the GotoBLAS/BLIS shape. C is cut into one rectangle per thread; each thread
// walks its rectangle in NC-column, KC-deep and MC-row cache blocks, packs its A block into MR-row
// panels and its B block into NR-column panels (zero padded, so the micro-kernel never sees an
// edge), and runs an MR x NR register-blocked micro-kernel over the panels.
//
// Micro-kernels, chosen once at run time (see pick_default_kernel for which wins where):
//   avx512    14x32, 28 zmm accumulators; x86_64 with AVX-512F
//   avx2+fma   6x16, 12 ymm accumulators; x86_64 with AVX2 and FMA
//   generic   12x8 on GCC/Clang vector types; any architecture (NEON on aarch64, SSE2 on old x86)
// The x86 kernels carry per-function target attributes, so this file builds with default flags and
// the binary still runs on any x86_64.
//
// Why the threads do not share packed panels: a shared pack needs a pool round trip per K block
// (pack, then compute), and parallel_for costs 10-50 us here; duplicated packing instead costs each
// thread (rect_rows + rect_cols) * K packed floats against rect_rows * rect_cols * K / 16 cycles of
// FMAs, which choose_grid keeps to a few percent by picking near-square rectangles. With 2 threads
// and M = 390 the threads take disjoint halves of B and only A (390 x K) is packed twice, which
// costs about 1-2% of the run time.
#include "backends/cpu/gemm_portable.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>

#include "core/error.h"

// WAN_GEMM_NO_X86 builds only the portable kernel, to test on x86 what other targets compile.
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(WAN_GEMM_NO_X86)
#define WAN_GEMM_X86 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define WAN_GEMM_X86 0
#endif

// The micro-kernels keep accumulators in arrays indexed by compile-time loop counters; only full
// unrolling turns those arrays into registers, so ask for it rather than rely on -O3.
#if defined(__clang__)
#define WAN_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define WAN_UNROLL _Pragma("GCC unroll 64")
#else
#define WAN_UNROLL
#endif

#define WAN_INLINE inline __attribute__((always_inline))
#define WAN_RESTRICT __restrict__

namespace wan::cpu {
namespace {

// Computes a full MR x NR tile: c = a_panel * b_panel + beta * c, where beta == 0 never reads c.
using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float beta);
// Packs a whole cache block: `width` rows (or columns) of depth kc, scaled by s, into panels of
// the kernel's MR (or NR), zero padding the last panel to full width.
using PackFn = void (*)(const float* src, int64_t ld, int64_t width, int64_t kc, float s, float* dst);

struct KernelSpec {
  const char* name;
  int mr, nr;
  // Cache blocks (upper bounds; run_rectangle evens them out): an mc x kc A block lives in L2 and
  // is re-read once per NR-column panel; a kc x nc B block is streamed from L2/L3 once per A block.
  int64_t kc, mc, nc;
  MicroKernel kernel;
  PackFn pack_a;    // A [M,K] row panels, scaled by alpha
  PackFn pack_b_n;  // B [K,N] column panels
  PackFn pack_b_t;  // B stored [N,K] (op(B) = B^T): row panels, i.e. a transpose
};

constexpr int kMaxTile = 32 * 32;  // largest MR * NR; edge tiles are staged in a buffer this big

// ---------------------------------------------------------------------------------------------
// Portable packing. Plain loops over compile-time panel widths, instantiated inside each target's
// wrapper so every ISA gets its own vectorised copy.

// dst[k*W + i] = s * src[i*ld + k] for i < rows, 0 for rows <= i < W.
template <int W>
WAN_INLINE void pack_panel_rows(const float* WAN_RESTRICT src, int64_t ld, int64_t rows, int64_t kc, float s,
                                float* WAN_RESTRICT dst) {
  // Chunks of 64 k: the 64*W destination floats stay in L1 while each source row is read as one
  // sequential 256-byte run that the hardware prefetcher follows. Walking all rows a few floats at
  // a time instead measured 2.5x slower with the source in L3.
  for (int64_t k0 = 0; k0 < kc; k0 += 64) {
    const int64_t k1 = std::min(kc, k0 + 64);
    for (int64_t i = 0; i < rows; ++i) {
      const float* r = src + i * ld;
      for (int64_t k = k0; k < k1; ++k) dst[k * W + i] = s * r[k];
    }
    for (int64_t k = k0; k < k1; ++k) {
      for (int64_t i = rows; i < W; ++i) dst[k * W + i] = 0.0f;
    }
  }
}

// dst[k*W + j] = s * src[k*ld + j] for j < cols, 0 for cols <= j < W.
template <int W>
WAN_INLINE void pack_panel_cols(const float* WAN_RESTRICT src, int64_t ld, int64_t cols, int64_t kc, float s,
                                float* WAN_RESTRICT dst) {
  if (cols == W) {
    for (int64_t k = 0; k < kc; ++k, dst += W) {
      const float* r = src + k * ld;
      WAN_UNROLL for (int j = 0; j < W; ++j) { dst[j] = s * r[j]; }
    }
    return;
  }
  for (int64_t k = 0; k < kc; ++k, dst += W) {
    const float* r = src + k * ld;
    for (int64_t j = 0; j < cols; ++j) dst[j] = s * r[j];
    for (int64_t j = cols; j < W; ++j) dst[j] = 0.0f;
  }
}

template <int W>
WAN_INLINE void pack_rows_block(const float* src, int64_t ld, int64_t width, int64_t kc, float s, float* dst) {
  for (int64_t p = 0; p < width; p += W, dst += W * kc)
    pack_panel_rows<W>(src + p * ld, ld, std::min<int64_t>(W, width - p), kc, s, dst);
}

template <int W>
WAN_INLINE void pack_cols_block(const float* src, int64_t ld, int64_t width, int64_t kc, float s, float* dst) {
  for (int64_t p = 0; p < width; p += W, dst += W * kc)
    pack_panel_cols<W>(src + p, ld, std::min<int64_t>(W, width - p), kc, s, dst);
}

// ---------------------------------------------------------------------------------------------
// Generic kernel on GCC/Clang vector extensions, which lower to the target's SIMD. Sized for
// aarch64 NEON: 24 accumulators + 2 B vectors + 3 A vectors = 29 of its 32 registers, with each A
// value used straight from its vector lane (fmla by element). A 6x16 tile with A loaded as scalars
// made GCC spill two accumulators every iteration. `acc += b * a` contracts to FMA under both
// compilers' default -ffp-contract wherever the ISA has one.

namespace generic {
constexpr int MR = 12, NV = 2, VW = 4, NR = NV * VW;
static_assert(MR * NR <= kMaxTile, "edge tile buffer too small");
static_assert(MR % VW == 0, "A is loaded as whole vectors");
typedef float v4f __attribute__((vector_size(16)));
// Unaligned, aliasing view for loads and stores. (memcpy into a vector made GCC route the A values
// through general registers.)
typedef float v4f_u __attribute__((vector_size(16), aligned(4), may_alias));

void kernel(int64_t kc, const float* WAN_RESTRICT a, const float* WAN_RESTRICT b, float* c, int64_t ldc,
            float beta) {
  v4f acc[MR][NV];
  WAN_UNROLL for (int i = 0; i < MR; ++i) {
    WAN_UNROLL for (int v = 0; v < NV; ++v) { acc[i][v] = v4f{0, 0, 0, 0}; }
  }
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR) {
    v4f bv[NV], av[MR / VW];
    WAN_UNROLL for (int v = 0; v < NV; ++v) { bv[v] = *reinterpret_cast<const v4f_u*>(b + v * VW); }
    WAN_UNROLL for (int q = 0; q < MR / VW; ++q) { av[q] = *reinterpret_cast<const v4f_u*>(a + q * VW); }
    WAN_UNROLL for (int i = 0; i < MR; ++i) {
      const float ai = av[i / VW][i % VW];
      WAN_UNROLL for (int v = 0; v < NV; ++v) { acc[i][v] += bv[v] * ai; }
    }
  }
  WAN_UNROLL for (int i = 0; i < MR; ++i) {
    WAN_UNROLL for (int v = 0; v < NV; ++v) {
      v4f_u* p = reinterpret_cast<v4f_u*>(c + i * ldc + v * VW);
      *p = beta == 0.0f ? acc[i][v] : acc[i][v] + *p * beta;
    }
  }
}

void pack_a(const float* src, int64_t ld, int64_t width, int64_t kc, float s, float* dst) {
  pack_rows_block<MR>(src, ld, width, kc, s, dst);
}
void pack_b_n(const float* src, int64_t ld, int64_t width, int64_t kc, float s, float* dst) {
  pack_cols_block<NR>(src, ld, width, kc, s, dst);
}
void pack_b_t(const float* src, int64_t ld, int64_t width, int64_t kc, float s, float* dst) {
  pack_rows_block<NR>(src, ld, width, kc, s, dst);
}

const KernelSpec spec = {"generic", MR, NR, 256, 120, 2048, kernel, pack_a, pack_b_n, pack_b_t};
}  // namespace generic

#if WAN_GEMM_X86
// ---------------------------------------------------------------------------------------------
// x86 transposing packer for A and for B^T, shared by both x86 kernels (it needs only AVX). Done a
// float at a time the transpose is ~2.5x slower and shows up as ~5% of a whole B^T GEMM.

namespace x86 {

// Writes the transpose of the 8x8 block r[0..7] (r[q] = 8 consecutive k of source row q), scaled
// by s: 8 groups of 8 floats, `stride` floats apart.
__attribute__((target("avx2"))) WAN_INLINE void transpose8_store(const __m256 r[8], float s, float* dst,
                                                                 int64_t stride) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  const __m256 sv = _mm256_set1_ps(s);
  _mm256_storeu_ps(dst + 0 * stride, _mm256_mul_ps(sv, _mm256_permute2f128_ps(u0, u4, 0x20)));
  _mm256_storeu_ps(dst + 1 * stride, _mm256_mul_ps(sv, _mm256_permute2f128_ps(u1, u5, 0x20)));
  _mm256_storeu_ps(dst + 2 * stride, _mm256_mul_ps(sv, _mm256_permute2f128_ps(u2, u6, 0x20)));
  _mm256_storeu_ps(dst + 3 * stride, _mm256_mul_ps(sv, _mm256_permute2f128_ps(u3, u7, 0x20)));
  _mm256_storeu_ps(dst + 4 * stride, _mm256_mul_ps(sv, _mm256_permute2f128_ps(u0, u4, 0x31)));
  _mm256_storeu_ps(dst + 5 * stride, _mm256_mul_ps(sv, _mm256_permute2f128_ps(u1, u5, 0x31)));
  _mm256_storeu_ps(dst + 6 * stride, _mm256_mul_ps(sv, _mm256_permute2f128_ps(u2, u6, 0x31)));
  _mm256_storeu_ps(dst + 7 * stride, _mm256_mul_ps(sv, _mm256_permute2f128_ps(u3, u7, 0x31)));
}

// Same contract as the portable pack_panel_rows<W>.
template <int W>
__attribute__((target("avx2"))) void pack_panel_rows(const float* WAN_RESTRICT src, int64_t ld, int64_t rows,
                                                     int64_t kc, float s, float* WAN_RESTRICT dst) {
  const int64_t k8 = kc & ~int64_t(7);
  const int64_t r8 = rows & ~int64_t(7), r4 = rows & ~int64_t(3);
  const __m128 sv = _mm_set1_ps(s);
  // Same 64-k chunking as the portable packer, for the same prefetcher reason.
  for (int64_t k0 = 0; k0 < k8; k0 += 64) {
    const int64_t k1 = std::min(k8, k0 + 64);
    for (int64_t i = 0; i < r8; i += 8) {
      for (int64_t k = k0; k < k1; k += 8) {
        const float* r = src + i * ld + k;
        __m256 v[8];
        WAN_UNROLL for (int q = 0; q < 8; ++q) { v[q] = _mm256_loadu_ps(r + q * ld); }
        transpose8_store(v, s, dst + k * W + i, W);
      }
    }
    for (int64_t i = r8; i < r4; i += 4) {
      for (int64_t k = k0; k < k1; k += 4) {
        const float* r = src + i * ld + k;
        __m128 a = _mm_loadu_ps(r), b = _mm_loadu_ps(r + ld);
        __m128 c = _mm_loadu_ps(r + 2 * ld), e = _mm_loadu_ps(r + 3 * ld);
        _MM_TRANSPOSE4_PS(a, b, c, e);
        float* d = dst + k * W + i;
        _mm_storeu_ps(d, _mm_mul_ps(sv, a));
        _mm_storeu_ps(d + W, _mm_mul_ps(sv, b));
        _mm_storeu_ps(d + 2 * W, _mm_mul_ps(sv, c));
        _mm_storeu_ps(d + 3 * W, _mm_mul_ps(sv, e));
      }
    }
    for (int64_t i = r4; i < rows; ++i) {
      for (int64_t k = k0; k < k1; ++k) dst[k * W + i] = s * src[i * ld + k];
    }
    for (int64_t k = k0; k < k1; ++k) {
      for (int64_t i = rows; i < W; ++i) dst[k * W + i] = 0.0f;
    }
  }
  for (int64_t k = k8; k < kc; ++k) {
    for (int64_t i = 0; i < rows; ++i) dst[k * W + i] = s * src[i * ld + k];
    for (int64_t i = rows; i < W; ++i) dst[k * W + i] = 0.0f;
  }
}

template <int W>
__attribute__((target("avx2"))) void pack_rows_block(const float* src, int64_t ld, int64_t width, int64_t kc,
                                                     float s, float* dst) {
  for (int64_t p = 0; p < width; p += W, dst += W * kc)
    pack_panel_rows<W>(src + p * ld, ld, std::min<int64_t>(W, width - p), kc, s, dst);
}

}  // namespace x86

// ---------------------------------------------------------------------------------------------
// AVX2 + FMA: 6x16 tile = 12 ymm accumulators + 2 B vectors + 1 broadcast + beta = all 16
// registers; per k, 8 loads feed 12 FMAs.

namespace avx2 {
constexpr int MR = 6, NV = 2, NR = NV * 8;
static_assert(MR * NR <= kMaxTile, "edge tile buffer too small");

__attribute__((target("avx2,fma"))) void kernel(int64_t kc, const float* WAN_RESTRICT a,
                                                 const float* WAN_RESTRICT b, float* c, int64_t ldc, float beta) {
  __m256 acc[MR][NV];
  WAN_UNROLL for (int i = 0; i < MR; ++i) {
    WAN_UNROLL for (int v = 0; v < NV; ++v) { acc[i][v] = _mm256_setzero_ps(); }
  }
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR) {
    __m256 bv[NV];
    WAN_UNROLL for (int v = 0; v < NV; ++v) { bv[v] = _mm256_load_ps(b + 8 * v); }
    WAN_UNROLL for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      WAN_UNROLL for (int v = 0; v < NV; ++v) { acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]); }
    }
  }
  if (beta == 0.0f) {
    WAN_UNROLL for (int i = 0; i < MR; ++i) {
      WAN_UNROLL for (int v = 0; v < NV; ++v) { _mm256_storeu_ps(c + i * ldc + 8 * v, acc[i][v]); }
    }
  } else {
    const __m256 bb = _mm256_set1_ps(beta);
    WAN_UNROLL for (int i = 0; i < MR; ++i) {
      WAN_UNROLL for (int v = 0; v < NV; ++v) {
        float* p = c + i * ldc + 8 * v;
        _mm256_storeu_ps(p, _mm256_fmadd_ps(bb, _mm256_loadu_ps(p), acc[i][v]));
      }
    }
  }
}

void pack_a(const float* src, int64_t ld, int64_t width, int64_t kc, float s, float* dst) {
  x86::pack_rows_block<MR>(src, ld, width, kc, s, dst);
}
__attribute__((target("avx2,fma"))) void pack_b_n(const float* src, int64_t ld, int64_t width, int64_t kc, float s,
                                                   float* dst) {
  pack_cols_block<NR>(src, ld, width, kc, s, dst);
}
void pack_b_t(const float* src, int64_t ld, int64_t width, int64_t kc, float s, float* dst) {
  x86::pack_rows_block<NR>(src, ld, width, kc, s, dst);
}

// kc = 384 measured ~2% faster than 256 on Zen 4 (fewer passes over C); mc keeps the 126 KiB A
// block inside a 256 KiB L2 (Haswell/Skylake client).
const KernelSpec spec = {"avx2+fma", MR, NR, 384, 84, 2048, kernel, pack_a, pack_b_n, pack_b_t};
}  // namespace avx2

// ---------------------------------------------------------------------------------------------
// AVX-512: 14x32 tile = 28 zmm accumulators + 2 B vectors + 1 broadcast + beta = all 32 registers;
// per k, 16 loads feed 28 FMAs. That register budget is exact: GCC spilled a B vector to the stack
// in every iteration when the epilogue had separate beta == 0 / beta != 0 paths or when the C
// prefetch lived in the kernel, so the epilogue is one masked path and the prefetch is the caller's.

namespace avx512 {
constexpr int MR = 14, NV = 2, NR = NV * 16;
static_assert(MR * NR <= kMaxTile, "edge tile buffer too small");

__attribute__((target("avx512f"))) void kernel(int64_t kc, const float* WAN_RESTRICT a,
                                                const float* WAN_RESTRICT b, float* c, int64_t ldc, float beta) {
  __m512 acc[MR][NV];
  WAN_UNROLL for (int i = 0; i < MR; ++i) {
    WAN_UNROLL for (int v = 0; v < NV; ++v) { acc[i][v] = _mm512_setzero_ps(); }
  }
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR) {
    __m512 bv[NV];
    WAN_UNROLL for (int v = 0; v < NV; ++v) { bv[v] = _mm512_load_ps(b + 16 * v); }
    WAN_UNROLL for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      WAN_UNROLL for (int v = 0; v < NV; ++v) { acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]); }
    }
  }
  // beta == 0: the all-false mask loads zeros without touching C, so NaN garbage stays out.
  const __m512 bb = _mm512_set1_ps(beta);
  const __mmask16 read_c = beta == 0.0f ? 0 : 0xFFFF;
  WAN_UNROLL for (int i = 0; i < MR; ++i) {
    WAN_UNROLL for (int v = 0; v < NV; ++v) {
      float* p = c + i * ldc + 16 * v;
      _mm512_storeu_ps(p, _mm512_fmadd_ps(bb, _mm512_maskz_loadu_ps(read_c, p), acc[i][v]));
    }
  }
}

void pack_a(const float* src, int64_t ld, int64_t width, int64_t kc, float s, float* dst) {
  x86::pack_rows_block<MR>(src, ld, width, kc, s, dst);
}
__attribute__((target("avx512f"))) void pack_b_n(const float* src, int64_t ld, int64_t width, int64_t kc, float s,
                                                  float* dst) {
  pack_cols_block<NR>(src, ld, width, kc, s, dst);
}
void pack_b_t(const float* src, int64_t ld, int64_t width, int64_t kc, float s, float* dst) {
  x86::pack_rows_block<NR>(src, ld, width, kc, s, dst);
}

// kc = 384: 256 -> 384 gained 1-4% on Zen 4 (fewer passes over C), 512 no more. mc: 168 x 384 A
// block = 252 KiB of L2.
const KernelSpec spec = {"avx512", MR, NR, 384, 168, 2048, kernel, pack_a, pack_b_n, pack_b_t};
}  // namespace avx512
#endif  // WAN_GEMM_X86

// ---------------------------------------------------------------------------------------------
// Dispatch.
//
// Where both x86 kernels run, the choice depends on how wide the FMA units really are. Zen 4 (AMD
// family 19h) executes each 512-bit op as two 256-bit halves, so the wider kernel has no more peak
// there; measured on a 2-core Zen 4 EPYC (GFLOP/s, best batch, kernels interleaved round by round
// in cpp/tests/gemm_portable_test.cpp; peak ~116 per core):
//                                    1 thread               2 threads
//                               avx512   avx2+fma      avx512   avx2+fma
//   B^T  390 x 1536 x 1536       102.6     105.3        214.2     215.5
//   B^T  390 x 8960 x 1536        99.8     104.3        206.3     211.1
//   B^T  390 x 1536 x 8960       101.4     103.6        207.3     209.1
//   B^T  512 x 1536 x 4096       103.3     104.7        210.1     211.3
//   B^T 4096 x 4096 x 4096       107.0     109.0        212.4     218.3
//   B^T  390 x  390 x  128       101.0     105.8        154.8     156.7
//   B^T 32760 x 1536 x 1536      107.3     109.8        214.5     217.5
// The AVX2 kernel wins by 1-4% (likely because its 24 KiB B micro-panel stays in the 32 KiB L1
// where the AVX-512 kernel's 48 KiB one does not), so Zen 4 gets it. Everywhere else with AVX-512 (Intel server cores, Zen 5) the
// 512-bit FMAs are native and the 14x32 kernel has twice the AVX2 kernel's peak.

#if WAN_GEMM_X86
bool amd_family_19h() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return false;
  const bool amd = ebx == 0x68747541u && edx == 0x69746e65u && ecx == 0x444d4163u;  // "AuthenticAMD"
  if (!amd || !__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  unsigned family = (eax >> 8) & 0xFu;
  if (family == 0xFu) family += (eax >> 20) & 0xFFu;
  return family == 0x19u;
}
#endif

const KernelSpec* pick_default_kernel() {
#if WAN_GEMM_X86
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (__builtin_cpu_supports("avx512f") && !(avx2 && amd_family_19h())) return &avx512::spec;
  if (avx2) return &avx2::spec;
#endif
  return &generic::spec;
}

const KernelSpec*& active_kernel() {
  static const KernelSpec* k = pick_default_kernel();
  return k;
}

// ---------------------------------------------------------------------------------------------
// Per-thread scratch: grown on demand, never shrunk, so steady-state calls allocate nothing. At
// most (mc + nc) * kc floats per thread (~3.3 MiB with the x86 blocks).

constexpr size_t kAlign = 64;

class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(raw_); }

  float* get(size_t floats) {
    if (floats > cap_) {
      // malloc + manual alignment: aligned operator new needs a newer macOS runtime than node-gyp
      // may target.
      std::free(raw_);
      raw_ = nullptr;
      cap_ = 0;
      void* p = std::malloc(floats * sizeof(float) + kAlign);
      if (!p) fail("E_OOM", "sgemm: cannot allocate " + std::to_string(floats * sizeof(float)) + " bytes of scratch");
      raw_ = p;
      cap_ = floats;
      data_ = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + kAlign - 1) & ~uintptr_t(kAlign - 1));
    }
    return data_;
  }

 private:
  void* raw_ = nullptr;
  float* data_ = nullptr;
  size_t cap_ = 0;
};

struct Scratch {
  ScratchBuffer a, b, stage;  // stage: widened rows of a compressed B panel before packing
  alignas(kAlign) float tile[kMaxTile];
};

Scratch& thread_scratch() {
  static thread_local Scratch s;
  return s;
}

// ---------------------------------------------------------------------------------------------

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Splits `total` into equal blocks of at most `limit`, each a multiple of `unit` (except the last).
// Equal blocks avoid a thin tail block that would cost a full pass of packing for little work.
inline int64_t even_block(int64_t total, int64_t limit, int64_t unit) {
  const int64_t blocks = ceil_div(total, std::max(limit, unit));
  return std::min(round_up(ceil_div(total, blocks), unit), round_up(total, unit));
}

// C = beta * C, where beta == 0 overwrites (NaN in C must not survive).
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.0f) {
      std::fill(c, c + N, 0.0f);
    } else if (beta != 1.0f) {
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    }
  }
}

struct Problem {
  bool trans_b;
  int64_t M, N, K;
  float alpha;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float beta;
  float* C;
  int64_t ldc;
  const WeightRows* W = nullptr;  // B stored compressed (trans_b): widened panel by panel
};

// One thread's rectangle C[m0:m1, n0:n1], start to finish, with private packed panels.
void run_rectangle(const KernelSpec& ks, const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int MR = ks.mr, NR = ks.nr;
  // Block sizes are whole panels: a block edge inside a panel would make the packers write past
  // the end of the buffers.
  // A compressed B is decoded in whole blocks: K blocks start on a block boundary.
  const int64_t k_unit = p.W ? std::max<int64_t>(8, p.W->unit()) : 8;
  const int64_t kc_max = even_block(p.K, ks.kc, k_unit);
  const int64_t mc_max = even_block(m1 - m0, ks.mc, MR);
  const int64_t nc_max = even_block(n1 - n0, ks.nc, NR);

  Scratch& s = thread_scratch();
  float* abuf = s.a.get(static_cast<size_t>(mc_max * kc_max));
  float* bbuf = s.b.get(static_cast<size_t>(nc_max * kc_max));
  float* stage = p.W ? s.stage.get(static_cast<size_t>(NR * kc_max)) : nullptr;
  float* tile = s.tile;

  for (int64_t jc = n0; jc < n1; jc += nc_max) {
    const int64_t nc = std::min(nc_max, n1 - jc);
    for (int64_t pc = 0; pc < p.K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, p.K - pc);
      const float beta = pc == 0 ? p.beta : 1.0f;  // later K blocks accumulate onto the first
      if (p.W) {
        // Widen NR rows at a time into the stage (L1/L2 sized), then pack them like float rows.
        for (int64_t q = 0; q < nc; q += NR) {
          const int64_t w = std::min<int64_t>(NR, nc - q);
          widen_rows(*p.W, jc + q, w, pc, kc, stage, kc);
          ks.pack_b_t(stage, kc, w, kc, 1.0f, bbuf + q * kc);
        }
      } else if (p.trans_b)
        ks.pack_b_t(p.B + jc * p.ldb + pc, p.ldb, nc, kc, 1.0f, bbuf);
      else
        ks.pack_b_n(p.B + pc * p.ldb + jc, p.ldb, nc, kc, 1.0f, bbuf);

      for (int64_t ic = m0; ic < m1; ic += mc_max) {
        const int64_t mc = std::min(mc_max, m1 - ic);
        ks.pack_a(p.A + ic * p.lda + pc, p.lda, mc, kc, p.alpha, abuf);

        // B micro-panel outer, A micro-panel inner: the B panel stays hot across the A block.
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = std::min<int64_t>(NR, nc - jr);
          const float* bp = bbuf + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min<int64_t>(MR, mc - ir);
            const float* ap = abuf + ir * kc;
            float* c = p.C + (ic + ir) * p.ldc + jc + jr;
            if (mr == MR && nr == NR) {
              // The kernel then spends thousands of cycles on FMAs, long enough for the C tile to
              // arrive before its write-back (worth ~2-4% at large M).
              for (int i = 0; i < MR; ++i) {
                __builtin_prefetch(c + i * p.ldc, 1, 3);
                __builtin_prefetch(c + i * p.ldc + NR - 1, 1, 3);
              }
              ks.kernel(kc, ap, bp, c, p.ldc, beta);
            } else {
              ks.kernel(kc, ap, bp, tile, NR, 0.0f);
              for (int64_t i = 0; i < mr; ++i) {
                float* ci = c + i * p.ldc;
                const float* ti = tile + i * NR;
                if (beta == 0.0f) {
                  for (int64_t j = 0; j < nr; ++j) ci[j] = ti[j];
                } else {
                  for (int64_t j = 0; j < nr; ++j) ci[j] = ti[j] + beta * ci[j];
                }
              }
            }
          }
        }
      }
    }
  }
}

// Splits C into a tm x tn grid of rectangles, one per thread. Picks the grid whose slowest thread
// has the least work, counting its multiply-adds (~16 per cycle with either x86 kernel) and the
// floats it packs (~1 per cycle, L3 or DRAM bound), so rectangles come out near square.
struct Grid {
  int tm, tn;
};

Grid choose_grid(const KernelSpec& ks, int64_t M, int64_t N, int64_t K, int threads) {
  const int64_t mu = ceil_div(M, ks.mr), nu = ceil_div(N, ks.nr);
  // Below ~4 MFLOP a thread, waking one costs more than it saves.
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  threads = static_cast<int>(std::max(1.0, std::min(static_cast<double>(threads), flops / 4e6)));
  Grid best{1, 1};
  double best_cost = 1e300;
  for (int tm = 1; tm <= threads; ++tm) {
    const int tn = threads / tm;
    if (tm > mu || tn > nu) continue;
    const double rm = static_cast<double>(ceil_div(mu, tm) * ks.mr);
    const double rn = static_cast<double>(ceil_div(nu, tn) * ks.nr);
    const double compute = rm * rn * static_cast<double>(K) / 16.0;
    const double a_packs = rm * static_cast<double>(K) * static_cast<double>(ceil_div(static_cast<int64_t>(rn), ks.nc));
    const double b_packs = rn * static_cast<double>(K);
    const double cost = compute + a_packs + b_packs;
    if (cost < best_cost * 0.999) {
      best_cost = cost;
      best = {tm, tn};
    }
  }
  return best;
}

}  // namespace

namespace {
void run_problem(const Problem& p, ThreadPool& pool);
}  // namespace

void sgemm_portable(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc, ThreadPool& pool) {
  run_problem(Problem{trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc}, pool);
}

void sgemm_portable_widened(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                            const WeightRows& W, float beta, float* C, int64_t ldc, ThreadPool& pool) {
  Problem p{true, M, N, K, alpha, A, lda, nullptr, 0, beta, C, ldc};
  p.W = &W;
  run_problem(p, pool);
}

namespace {
void run_problem(const Problem& p, ThreadPool& pool) {
  const int64_t M = p.M, N = p.N, K = p.K;
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || p.alpha == 0.0f) {  // as in BLAS: A and B are not read, so NaN in them cannot leak
    scale_c(M, N, p.beta, p.C, p.ldc);
    return;
  }
  const KernelSpec& ks = *active_kernel();
  const Grid g = choose_grid(ks, M, N, K, pool.size());
  const int64_t mu = ceil_div(M, ks.mr), nu = ceil_div(N, ks.nr);
  const int nt = g.tm * g.tn;

  // Rectangle t spans panel rows [mu*r/tm, mu*(r+1)/tm) and panel columns likewise, so the
  // rectangles differ by at most one panel each way.
  auto rect = [&](int64_t t) {
    const int64_t r = t / g.tn, q = t % g.tn;
    const int64_t m0 = std::min(M, mu * r / g.tm * ks.mr), m1 = std::min(M, mu * (r + 1) / g.tm * ks.mr);
    const int64_t n0 = std::min(N, nu * q / g.tn * ks.nr), n1 = std::min(N, nu * (q + 1) / g.tn * ks.nr);
    if (m0 < m1 && n0 < n1) run_rectangle(ks, p, m0, m1, n0, n1);
  };

  if (nt == 1) {
    rect(0);
    return;
  }
  // An exception (scratch allocation) must not escape a pool worker: keep the first and rethrow it
  // on the calling thread once every rectangle has finished.
  std::mutex err_mu;
  std::exception_ptr err;
  pool.parallel_for(
      nt,
      [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          try {
            rect(t);
          } catch (...) {
            std::lock_guard<std::mutex> lock(err_mu);
            if (!err) err = std::current_exception();
          }
        }
      },
      1);
  if (err) std::rethrow_exception(err);
}
}  // namespace

const char* sgemm_portable_kernel_name() { return active_kernel()->name; }

namespace detail {
bool sgemm_portable_force_kernel(const char* name) {
  const std::string n = name ? name : "";
  const KernelSpec* k = nullptr;
  if (n == generic::spec.name) k = &generic::spec;
#if WAN_GEMM_X86
  __builtin_cpu_init();
  if (n == avx2::spec.name && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) k = &avx2::spec;
  if (n == avx512::spec.name && __builtin_cpu_supports("avx512f")) k = &avx512::spec;
#endif
  if (!k) return false;
  active_kernel() = k;
  return true;
}
}  // namespace detail

}  // namespace wan::cpu
