// bf16 x bf16 -> f32 GEMM on tensor cores with mma.sync.m16n8k16 (Ampere, Ada, Hopper).
//
// Block tile BM x BN x 32, warps arranged WARPS_M x WARPS_N, each warp a (BM/WARPS_M) x
// (BN/WARPS_N) tile of m16n8 fragments. A and B tiles stream through a STAGES-deep cp.async ring
// in shared memory (rows padded by 8 elements: 80-byte rows put the 8 rows an ldmatrix reads in 8
// distinct bank groups). Fragments come from ldmatrix.x4; the epilogue adds the bias, applies the
// activation and stores float32 with bounds checks, so M and N are arbitrary.
#include <cuda_bf16.h>

#include <mutex>

#include "cuda/kernels/device_math.cuh"
#include "cuda/kernels/gemm_bf16.h"

namespace wan::cuda {

namespace {

constexpr int kBK = 32;
constexpr int kPad = 8;
constexpr int kRow = kBK + kPad;  // shared-memory row length in bf16 elements (80 bytes)

__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = valid ? 16 : 0;  // 0: no global read, the 16 bytes are zero-filled
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const void* smem) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}

__device__ __forceinline__ void mma_bf16(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <int BM, int BN, int WARPS_M, int WARPS_N, int STAGES>
struct Tile {
  static constexpr int kThreads = WARPS_M * WARPS_N * 32;
  static constexpr int kWM = BM / WARPS_M, kWN = BN / WARPS_N;
  static constexpr int kMI = kWM / 16, kNI = kWN / 8;
  static constexpr int kStageElems = (BM + BN) * kRow;
  static constexpr size_t kSmemBytes = static_cast<size_t>(STAGES) * kStageElems * sizeof(uint16_t);
  static_assert(kWM % 16 == 0 && kWN % 16 == 0, "warp tile must hold whole m16 and pairs of n8 fragments");
  static_assert((BM * kBK / 8) % kThreads == 0 && (BN * kBK / 8) % kThreads == 0, "loads must split evenly");
};

template <int BM, int BN, int WARPS_M, int WARPS_N, int STAGES>
__global__ void __launch_bounds__(WARPS_M* WARPS_N * 32) gemm_bf16_kernel(GemmBf16Params p) {
  using T = Tile<BM, BN, WARPS_M, WARPS_N, STAGES>;
  extern __shared__ __align__(16) uint16_t smem[];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / WARPS_N, wn = warp % WARPS_N;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM, n0 = static_cast<int64_t>(blockIdx.x) * BN;
  const int ktiles = static_cast<int>((p.K + kBK - 1) / kBK);

  auto stage_a = [&](int s) { return smem + s * T::kStageElems; };
  auto stage_b = [&](int s) { return smem + s * T::kStageElems + BM * kRow; };

  // 16-byte chunks: a row of the k-tile is 4 chunks. K is a multiple of 8, so a chunk is wholly
  // inside or wholly outside [0, K).
  auto load_stage = [&](int s, int kt) {
    const int64_t k0 = static_cast<int64_t>(kt) * kBK;
    uint16_t* as = stage_a(s);
    uint16_t* bs = stage_b(s);
#pragma unroll
    for (int i = 0; i < (BM * kBK / 8) / T::kThreads; ++i) {
      const int chunk = tid + i * T::kThreads, r = chunk >> 2, c = (chunk & 3) * 8;
      const int64_t gr = m0 + r, gk = k0 + c;
      const bool ok = gr < p.M && gk < p.K;
      cp_async_16(as + r * kRow + c, ok ? p.a + gr * p.lda + gk : p.a, ok);
    }
#pragma unroll
    for (int i = 0; i < (BN * kBK / 8) / T::kThreads; ++i) {
      const int chunk = tid + i * T::kThreads, r = chunk >> 2, c = (chunk & 3) * 8;
      const int64_t gr = n0 + r, gk = k0 + c;
      const bool ok = gr < p.N && gk < p.K;
      cp_async_16(bs + r * kRow + c, ok ? p.b + gr * p.ldb + gk : p.b, ok);
    }
  };

  float acc[T::kMI][T::kNI][4];
#pragma unroll
  for (int i = 0; i < T::kMI; ++i)
#pragma unroll
    for (int j = 0; j < T::kNI; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < ktiles) load_stage(s, s);
    cp_async_commit();  // empty groups keep the wait counts uniform
  }

  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();  // tile kt landed for every thread; stage (kt-1) % STAGES is free again
    const int next = kt + STAGES - 1;
    if (next < ktiles) load_stage(next % STAGES, next);
    cp_async_commit();

    const uint16_t* as = stage_a(kt % STAGES) + (wm * T::kWM) * kRow;
    const uint16_t* bs = stage_b(kt % STAGES) + (wn * T::kWN) * kRow;
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      unsigned af[T::kMI][4];
      unsigned bf[T::kNI][2];
#pragma unroll
      for (int i = 0; i < T::kMI; ++i)
        // lanes 0-15 address rows 0-15 at k, lanes 16-31 the same rows at k + 8: a0..a3 of m16n8k16
        ldmatrix_x4(af[i], as + (i * 16 + (lane & 15)) * kRow + kk + (lane >> 4) * 8);
#pragma unroll
      for (int j = 0; j < T::kNI; j += 2) {
        // matrices: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
        unsigned r[4];
        ldmatrix_x4(r, bs + (j * 8 + (lane >> 4) * 8 + (lane & 7)) * kRow + kk + ((lane >> 3) & 1) * 8);
        bf[j][0] = r[0];
        bf[j][1] = r[1];
        bf[j + 1][0] = r[2];
        bf[j + 1][1] = r[3];
      }
#pragma unroll
      for (int i = 0; i < T::kMI; ++i)
#pragma unroll
        for (int j = 0; j < T::kNI; ++j) mma_bf16(acc[i][j], af[i], bf[j][0], bf[j][1]);
    }
  }
  cp_async_wait<0>();

  // c0,c1: row g, columns 2t, 2t+1; c2,c3: row g + 8.
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int i = 0; i < T::kMI; ++i) {
#pragma unroll
    for (int j = 0; j < T::kNI; ++j) {
      const int64_t col = n0 + wn * T::kWN + j * 8 + 2 * t;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int64_t row = m0 + wm * T::kWM + i * 16 + g + half * 8;
        if (row >= p.M) continue;
        float* out = p.c + row * p.ldc;
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int64_t cc = col + e;
          if (cc < p.N) {
            float v = acc[i][j][half * 2 + e];
            if (p.bias) v += p.bias[cc];
            v = apply_act(v, p.act);
            if (!p.accumulate) {
              out[cc] = v;
            } else if (p.gate) {  // the gated residual add, in add_gated's order: x + y * gate
              out[cc] += v * p.gate[static_cast<int64_t>(p.gate_row[row]) * p.gate_ld + cc];
            } else {
              out[cc] += v;
            }
          }
        }
      }
    }
  }
}

template <int BM, int BN, int WARPS_M, int WARPS_N, int STAGES>
void launch_tile(const GemmBf16Params& p, cudaStream_t s) {
  using T = Tile<BM, BN, WARPS_M, WARPS_N, STAGES>;
  auto kernel = gemm_bf16_kernel<BM, BN, WARPS_M, WARPS_N, STAGES>;
  // Over 48 KiB of dynamic shared memory must be opted into, once per kernel (and device; the
  // backend uses one).
  static std::once_flag once;
  std::call_once(once, [&] {
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(T::kSmemBytes));
  });
  const dim3 grid(static_cast<unsigned>((p.N + BN - 1) / BN), static_cast<unsigned>((p.M + BM - 1) / BM));
  kernel<<<grid, T::kThreads, T::kSmemBytes, s>>>(p);
}

// The large tile when it still gives every SM a block, else the small one (time embedding rows,
// text tokens, small test shapes).
bool use_large_tile(const GemmBf16Params& p, int sm_count) {
  const int64_t large_blocks = ((p.M + 127) / 128) * ((p.N + 127) / 128);
  return large_blocks >= sm_count;
}

}  // namespace

const char* gemm_bf16_tile_name(const GemmBf16Params& p, int sm_count) {
  return use_large_tile(p, sm_count) ? "128x128x32 s3 (8 warps)" : "64x64x32 s4 (4 warps)";
}

void launch_gemm_bf16(const GemmBf16Params& p, int sm_count, cudaStream_t s) {
  if (p.M == 0 || p.N == 0) return;
  if (use_large_tile(p, sm_count))
    launch_tile<128, 128, 2, 4, 3>(p, s);
  else
    launch_tile<64, 64, 2, 2, 4>(p, s);
}

}  // namespace wan::cuda
