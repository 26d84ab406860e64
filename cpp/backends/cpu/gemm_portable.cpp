// Portable SGEMM in the GotoBLAS/BLIS shape: C is cut into per-thread rectangles; each thread
// walks its rectangle in NC-column, KC-deep and MC-row cache blocks, packs the A block into MR-row
// panels and the B block into NR-column panels (zero padded, so the micro-kernel never sees an edge),
// and runs an MR x NR register-blocked micro-kernel over the panels.
//
// Micro-kernels (chosen once at run time, see pick_default_kernel):
//   avx512    14x32, 28 zmm accumulators, x86_64 with AVX-512F
//   avx2+fma   6x16, 12 ymm accumulators, x86_64 with AVX2 and FMA
//   generic    6x16 on GCC/Clang vector types, any architecture (NEON on aarch64, SSE on old x86)
// The x86 kernels use per-function target attributes, so this file compiles with default flags
// and the binary still runs on any x86_64.
#include "backends/cpu/gemm_portable.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>

#include "core/error.h"

#if defined(__x86_64__) || defined(_M_X64)
#define WAN_GEMM_X86 1
#include <immintrin.h>
#else
#define WAN_GEMM_X86 0
#endif

// The micro-kernels keep their accumulators in arrays indexed by constant loop counters; full
// unrolling is what turns those arrays into registers, so ask for it explicitly instead of relying
// on -O3.
#if defined(__clang__)
#define WAN_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define WAN_UNROLL _Pragma("GCC unroll 64")
#else
#define WAN_UNROLL
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WAN_INLINE inline __attribute__((always_inline))
#define WAN_RESTRICT __restrict__
#else
#define WAN_INLINE inline
#define WAN_RESTRICT
#endif

namespace wan::cpu {
namespace {

using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float beta);
// Packs a whole cache block: `width` rows (or columns) of depth kc, scaled by s, into panels of the
// kernel's MR (or NR), zero padding the last panel.
using PackFn = void (*)(const float* src, int64_t ld, int64_t width, int64_t kc, float s, float* dst);

struct KernelSpec {
  const char* name;
  int mr, nr;
  int64_t kc, mc, nc;  // cache blocks: kc*nr floats stay in L1, mc*kc in L2, kc*nc in L3/L2
  MicroKernel kernel;
  PackFn pack_a;    // A [M,K] row panels, scaled by alpha
  PackFn pack_b_n;  // B [K,N] column panels
  PackFn pack_b_t;  // B stored [N,K] (op(B) = B^T) column panels
};

// ---------------------------------------------------------------------------------------------
// Packing. Written as plain loops over compile-time panel widths and instantiated once per target
// (the wrappers below carry the target attribute), so each ISA gets its own vectorised copy.

// dst[k*W + i] = s * src[i*ld + k] for i < rows, 0 for rows <= i < W.
template <int W>
WAN_INLINE void pack_panel_rows(const float* WAN_RESTRICT src, int64_t ld, int64_t rows, int64_t kc, float s,
                                float* WAN_RESTRICT dst) {
  // Chunks of 64 k: the 64*W destination floats stay in L1 while every source row is read as one
  // sequential 256-byte run, which the hardware prefetcher follows (walking all rows a few floats
  // at a time is 2.5x slower from L3).
  for (int64_t k0 = 0; k0 < kc; k0 += 64) {
    const int64_t k1 = std::min(kc, k0 + 64);
    for (int64_t i = 0; i < rows; ++i) {
      const float* r = src + i * ld;
      for (int64_t k = k0; k < k1; ++k) dst[k * W + i] = s * r[k];
    }
    for (int64_t k = k0; k < k1; ++k)
      for (int64_t i = rows; i < W; ++i) dst[k * W + i] = 0.0f;
  }
}

// dst[k*W + j] = s * src[k*ld + j] for j < cols, 0 for cols <= j < W.
template <int W>
WAN_INLINE void pack_panel_cols(const float* WAN_RESTRICT src, int64_t ld, int64_t cols, int64_t kc, float s,
                                float* WAN_RESTRICT dst) {
  if (cols == W) {
    for (int64_t k = 0; k < kc; ++k) {
      const float* r = src + k * ld;
      WAN_UNROLL for (int j = 0; j < W; ++j) dst[j] = s * r[j];
      dst += W;
    }
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    const float* r = src + k * ld;
    for (int64_t j = 0; j < cols; ++j) dst[j] = s * r[j];
    for (int64_t j = cols; j < W; ++j) dst[j] = 0.0f;
    dst += W;
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
// Generic kernel: GCC/Clang vector extensions lower to whatever SIMD the target has (NEON on
// aarch64, where 24 accumulators + 4 B vectors fit its 32 registers). `acc += b * a` contracts to
// FMA under the default -ffp-contract of both compilers where the ISA has one.

namespace generic {
constexpr int MR = 6, NV = 4, VW = 4, NR = NV * VW;
typedef float v4f __attribute__((vector_size(16)));

void kernel(int64_t kc, const float* WAN_RESTRICT a, const float* WAN_RESTRICT b, float* c, int64_t ldc,
            float beta) {
  v4f acc[MR][NV];
  WAN_UNROLL for (int i = 0; i < MR; ++i) WAN_UNROLL for (int v = 0; v < NV; ++v) acc[i][v] = v4f{0, 0, 0, 0};
  for (int64_t k = 0; k < kc; ++k) {
    v4f bv[NV];
    WAN_UNROLL for (int v = 0; v < NV; ++v) std::memcpy(&bv[v], b + v * VW, sizeof(v4f));
    WAN_UNROLL for (int i = 0; i < MR; ++i) {
      const float ai = a[i];
      WAN_UNROLL for (int v = 0; v < NV; ++v) acc[i][v] += bv[v] * ai;
    }
    a += MR;
    b += NR;
  }
  WAN_UNROLL for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    WAN_UNROLL for (int v = 0; v < NV; ++v) {
      v4f r = acc[i][v];
      if (beta != 0.0f) {
        v4f old;
        std::memcpy(&old, ci + v * VW, sizeof(v4f));
        r += old * beta;
      }
      std::memcpy(ci + v * VW, &r, sizeof(v4f));
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

const KernelSpec spec = {"generic", MR, NR, 256, 96, 4096, kernel, pack_a, pack_b_n, pack_b_t};
}  // namespace generic

#if WAN_GEMM_X86
// ---------------------------------------------------------------------------------------------
// x86 transposing packer, shared by the AVX2 and AVX-512 kernels (it needs only AVX). Interleaving
// rows is a transpose; done one float at a time it costs ~6% of a whole B^T GEMM, done as 8x8
// register transposes it is noise.

namespace x86 {

// Stores the transpose of the 8x8 block held in r[0..7] (row i = 8 consecutive k of source row i)
// as 8 groups of 8 floats, `stride` floats apart.
__attribute__((target("avx2"))) WAN_INLINE void transpose8_store(__m256 r[8], float s, float* dst, int64_t stride) {
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

// Same contract as pack_panel_rows<W>.
template <int W>
__attribute__((target("avx2"))) void pack_panel_rows(const float* WAN_RESTRICT src, int64_t ld, int64_t rows,
                                                     int64_t kc, float s, float* WAN_RESTRICT dst) {
  const int64_t k8 = kc & ~int64_t(7);
  const int64_t r8 = rows & ~int64_t(7), r4 = rows & ~int64_t(3);
  const __m128 sv = _mm_set1_ps(s);
  // Chunks of 64 k: the 64*W packed floats being filled stay in L1 until complete, while each
  // group of 8 source rows is read as 8 sequential 256-byte runs. (Striding all W rows 8 floats at a
  // time instead defeats the hardware prefetcher: measured 2.5x slower from L3.)
  for (int64_t k0 = 0; k0 < k8; k0 += 64) {
    const int64_t k1 = std::min(k8, k0 + 64);
    for (int64_t i = 0; i < r8; i += 8) {
      for (int64_t k = k0; k < k1; k += 8) {
        const float* r = src + i * ld + k;
        __m256 v[8];
        WAN_UNROLL for (int q = 0; q < 8; ++q) v[q] = _mm256_loadu_ps(r + q * ld);
        transpose8_store(v, s, dst + k * W + i, W);
      }
    }
    for (int64_t i = r8; i < r4; i += 4) {
      for (int64_t k = k0; k < k1; k += 4) {
        const float* r = src + i * ld + k;
        __m128 a = _mm_loadu_ps(r), b = _mm_loadu_ps(r + ld), c = _mm_loadu_ps(r + 2 * ld), e = _mm_loadu_ps(r + 3 * ld);
        _MM_TRANSPOSE4_PS(a, b, c, e);
        float* d = dst + k * W + i;
        _mm_storeu_ps(d, _mm_mul_ps(sv, a));
        _mm_storeu_ps(d + W, _mm_mul_ps(sv, b));
        _mm_storeu_ps(d + 2 * W, _mm_mul_ps(sv, c));
        _mm_storeu_ps(d + 3 * W, _mm_mul_ps(sv, e));
      }
    }
    for (int64_t i = r4; i < rows; ++i)
      for (int64_t k = k0; k < k1; ++k) dst[k * W + i] = s * src[i * ld + k];
    for (int64_t k = k0; k < k1; ++k)
      for (int64_t i = rows; i < W; ++i) dst[k * W + i] = 0.0f;
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
// AVX2 + FMA: 6x16 tile, 12 ymm accumulators, 2 B vectors and 1 broadcast out of 16 registers.

namespace avx2 {
constexpr int MR = 6, NV = 2, NR = NV * 8;

__attribute__((target("avx2,fma"))) void kernel(int64_t kc, const float* WAN_RESTRICT a,
                                                 const float* WAN_RESTRICT b, float* c, int64_t ldc, float beta) {
  static const int CPF = getenv("CPF") ? atoi(getenv("CPF")) : 1;
  if (CPF) WAN_UNROLL for (int i = 0; i < MR; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NR - 1), _MM_HINT_T0);
  }
  __m256 acc[MR][NV];
  WAN_UNROLL for (int i = 0; i < MR; ++i) WAN_UNROLL for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m256 bv[NV];
    WAN_UNROLL for (int v = 0; v < NV; ++v) bv[v] = _mm256_load_ps(b + 8 * v);
    WAN_UNROLL for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      WAN_UNROLL for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += MR;
    b += NR;
  }
  if (beta == 0.0f) {
    WAN_UNROLL for (int i = 0; i < MR; ++i) WAN_UNROLL for (int v = 0; v < NV; ++v)
      _mm256_storeu_ps(c + i * ldc + 8 * v, acc[i][v]);
  } else {
    const __m256 bb = _mm256_set1_ps(beta);
    WAN_UNROLL for (int i = 0; i < MR; ++i) WAN_UNROLL for (int v = 0; v < NV; ++v) {
      float* p = c + i * ldc + 8 * v;
      _mm256_storeu_ps(p, _mm256_fmadd_ps(bb, _mm256_loadu_ps(p), acc[i][v]));
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

const KernelSpec spec = {"avx2+fma", MR, NR, 256, 120, 4096, kernel, pack_a, pack_b_n, pack_b_t};
}  // namespace avx2

// ---------------------------------------------------------------------------------------------
// AVX-512: 14x32 tile, 28 zmm accumulators + 2 B vectors + 1 broadcast = 31 of 32 registers.

namespace avx512 {
constexpr int MR = 14, NV = 2, NR = NV * 16;

__attribute__((target("avx512f"))) void kernel(int64_t kc, const float* WAN_RESTRICT a,
                                                const float* WAN_RESTRICT b, float* c, int64_t ldc, float beta) {
  static const int CPF = getenv("CPF") ? atoi(getenv("CPF")) : 1;
  if (CPF) WAN_UNROLL for (int i = 0; i < MR; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NR - 1), _MM_HINT_T0);
  }
  __m512 acc[MR][NV];
  WAN_UNROLL for (int i = 0; i < MR; ++i) WAN_UNROLL for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[NV];
    WAN_UNROLL for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
    WAN_UNROLL for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      WAN_UNROLL for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += MR;
    b += NR;
  }
  if (beta == 0.0f) {
    WAN_UNROLL for (int i = 0; i < MR; ++i) WAN_UNROLL for (int v = 0; v < NV; ++v)
      _mm512_storeu_ps(c + i * ldc + 16 * v, acc[i][v]);
  } else {
    const __m512 bb = _mm512_set1_ps(beta);
    WAN_UNROLL for (int i = 0; i < MR; ++i) WAN_UNROLL for (int v = 0; v < NV; ++v) {
      float* p = c + i * ldc + 16 * v;
      _mm512_storeu_ps(p, _mm512_fmadd_ps(bb, _mm512_loadu_ps(p), acc[i][v]));
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

const KernelSpec spec = {"avx512", MR, NR, 256, 112, 4096, kernel, pack_a, pack_b_n, pack_b_t};
}  // namespace avx512
#endif  // WAN_GEMM_X86

// ---------------------------------------------------------------------------------------------
// Dispatch.

const KernelSpec* pick_default_kernel() {
#if WAN_GEMM_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return &avx512::spec;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &avx2::spec;
#endif
  return &generic::spec;
}

const KernelSpec*& active_kernel() {
  static const KernelSpec* k = [] {
    const KernelSpec* d = pick_default_kernel();
    return d;
  }();
  return k;
}
int64_t envi(const char* n, int64_t d) { const char* v = getenv(n); return v ? atoll(v) : d; }

// ---------------------------------------------------------------------------------------------
// Per-thread scratch: grown on demand, never shrunk, so steady-state calls allocate nothing.

constexpr size_t kAlign = 64;

class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(raw_); }

  float* get(size_t floats) {
    if (floats > cap_) {
      // Plain malloc plus manual alignment: aligned operator new needs a newer macOS runtime
      // than node-gyp may target.
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
  ScratchBuffer a, b;
  alignas(kAlign) float tile[32 * 32];  // edge tiles land here before the masked write-back
};

Scratch& thread_scratch() {
  static thread_local Scratch s;
  return s;
}

// ---------------------------------------------------------------------------------------------

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// C = beta * C, with beta == 0 meaning "overwrite" (NaN in C must not survive).
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.0f)
      std::fill(c, c + N, 0.0f);
    else if (beta != 1.0f)
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
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
};

// One thread's rectangle C[m0:m1, n0:n1], computed start to finish with private packed panels.
void run_rectangle(const KernelSpec& ks0, const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int MR = ks0.mr, NR = ks0.nr;
  static const int64_t KC = envi("KC", 0), MC = envi("MC", 0), NC = envi("NC", 0);
  KernelSpec kk = ks0; if (KC) kk.kc = KC; if (MC) kk.mc = MC; if (NC) kk.nc = NC;
  const KernelSpec& ks = kk;
  // Even K blocks: 8960 = 35 x 256 rather than 34 x 256 + a thin 256-remainder-sized tail.
  const int64_t kblocks = ceil_div(p.K, ks.kc);
  const int64_t kc_max = ceil_div(p.K, kblocks);
  const int64_t mc_max = std::min(ks.mc, ceil_div(m1 - m0, MR) * MR);
  const int64_t nc_max = std::min(ks.nc, ceil_div(n1 - n0, NR) * NR);

  Scratch& s = thread_scratch();
  float* abuf = s.a.get(static_cast<size_t>(mc_max * kc_max));
  float* bbuf = s.b.get(static_cast<size_t>(nc_max * kc_max));
  float* tile = s.tile;

  for (int64_t jc = n0; jc < n1; jc += nc_max) {
    const int64_t nc = std::min(nc_max, n1 - jc);
    for (int64_t pc = 0; pc < p.K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, p.K - pc);
      const float beta = pc == 0 ? p.beta : 1.0f;
      if (p.trans_b)
        ks.pack_b_t(p.B + jc * p.ldb + pc, p.ldb, nc, kc, 1.0f, bbuf);
      else
        ks.pack_b_n(p.B + pc * p.ldb + jc, p.ldb, nc, kc, 1.0f, bbuf);

      for (int64_t ic = m0; ic < m1; ic += mc_max) {
        const int64_t mc = std::min(mc_max, m1 - ic);
        ks.pack_a(p.A + ic * p.lda + pc, p.lda, mc, kc, p.alpha, abuf);

        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = std::min<int64_t>(NR, nc - jr);
          const float* bp = bbuf + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min<int64_t>(MR, mc - ir);
            const float* ap = abuf + ir * kc;
            float* c = p.C + (ic + ir) * p.ldc + jc + jr;
            if (mr == MR && nr == NR) {
              ks.kernel(kc, ap, bp, c, p.ldc, beta);
            } else {
              ks.kernel(kc, ap, bp, tile, NR, 0.0f);
              for (int64_t i = 0; i < mr; ++i) {
                float* ci = c + i * p.ldc;
                const float* ti = tile + i * NR;
                if (beta == 0.0f)
                  for (int64_t j = 0; j < nr; ++j) ci[j] = ti[j];
                else
                  for (int64_t j = 0; j < nr; ++j) ci[j] = ti[j] + beta * ci[j];
              }
            }
          }
        }
      }
    }
  }
}

// Splits C into a tm x tn grid of rectangles, one per thread. Each thread packs the A rows and B
// columns its rectangle needs, so re-packing costs about (1/rect_cols + 1/rect_rows) of the
// arithmetic: the grid that keeps rectangles closest to square (in panel units) while giving every
// thread work wins.
struct Grid {
  int tm, tn;
};

Grid choose_grid(const KernelSpec& ks, int64_t M, int64_t N, int64_t K, int threads) {
  const int64_t mu = ceil_div(M, ks.mr), nu = ceil_div(N, ks.nr);
  // Below ~4 MFLOP per thread, waking another thread costs more than it saves.
  const double flops = 2.0 * M * N * K;
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, static_cast<int64_t>(flops / 4e6))));
  Grid best{1, 1};
  double best_cost = 1e300;
  for (int tm = 1; tm <= threads; ++tm) {
    const int tn = threads / tm;
    if (tm > mu || tn > nu) continue;
    // Slowest thread: its rectangle's multiply-adds plus packing, in units of "one float".
    const double rm = static_cast<double>(ceil_div(mu, tm) * ks.mr);
    const double rn = static_cast<double>(ceil_div(nu, tn) * ks.nr);
    const double compute = rm * rn * K / 16.0;  // ~16 FMA per cycle vs ~1 packed float per cycle
    const double a_packs = rm * K * ceil_div(static_cast<int64_t>(rn), ks.nc);
    const double b_packs = rn * K;
    const double cost = compute + a_packs + b_packs;
    if (cost < best_cost * 0.999) {
      best_cost = cost;
      best = {tm, tn};
    }
  }
  return best;
}

}  // namespace

void sgemm_portable(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc, ThreadPool& pool) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  const KernelSpec& ks = *active_kernel();
  const Problem p{trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc};
  const Grid g = choose_grid(ks, M, N, K, pool.size());
  const int64_t mu = ceil_div(M, ks.mr), nu = ceil_div(N, ks.nr);
  const int nt = g.tm * g.tn;

  // Rectangle t covers panel rows [mu*r/tm, mu*(r+1)/tm) and panel columns likewise: balanced to
  // within one panel.
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
  // Exceptions (scratch allocation) must not escape a pool worker: park the first one and rethrow
  // on the calling thread.
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
