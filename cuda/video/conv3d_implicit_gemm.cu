// The causal conv3d of the video VAE as an implicit GEMM on tensor cores.
//
//   Y[m, n] = sum_k A[m, k] * Wt[n, k]   (+ bias[n]) (+ Y[m, n] when accumulating)
//   m = output pixel (to, ho, wo) over all output frames, row-major, so Y is y itself;
//   n = output channel; k = ((dt*kh + dh)*kw + dw)*Cin + c, the packed weight's column.
//   A[m, k] = frame (to*stride_t + dt) of the sequence (pad_front zeros, past, x) at pixel
//             (ho*stride_h + dh - pad_top, wo*stride_w + dw - pad_left), channel c; zero outside.
//
// Why an implicit GEMM: the VAE decode of 81 frames at 480p must fit in 6 GB of device memory, and
// the im2col matrix of one 3x3x3 conv over a 96-channel 480x832 frame alone is 27x that frame. A is
// therefore never materialised: each block gathers its 128 x 32 slice of A straight from the frames
// into shared memory (cp.async, zero-filled where a tap falls into padding), so the kernel needs no
// workspace at all and its memory is its input and output.
//
// Tiling: a block computes a BM x BN tile of Y in K steps of 32, double-buffered (the copies of step
// k+1 are in flight while the tensor cores work on step k). Activations stay float32 in shared memory
// (cp.async cannot convert) and are rounded to bf16 as the A fragments are built; weights arrive bf16.
// Shared-memory rows are padded to 40 elements so that the fragment loads of a warp hit 32 distinct
// banks (A: 8-byte loads, row stride 40 floats; B: 4-byte loads, row stride 20 words).
// Blocks are numbered with the N tile fastest: the few blocks that read the same A rows run together
// and share them through L2, instead of the video being streamed from DRAM once per N tile.
#include <climits>
#include <cstdint>

#include <cuda_runtime.h>

#include "cuda/video/conv3d_gather.cuh"
#include "cuda/video/tensor_core_ops.cuh"
#include "cuda/video/video_kernels.h"

namespace wan::cuda {
namespace video_detail {

constexpr int kBK = 32;           // K per pipeline step (two m16n8k16 k-steps)
constexpr int kLdA = kBK + 8;     // floats per A row in shared memory (bank-conflict padding)
constexpr int kLdB = kBK + 8;     // bf16 per B row in shared memory (80 bytes: rows stay 16-byte aligned)
constexpr int kStages = 2;

template <int BM, int BN>
constexpr int conv_smem_bytes() {
  return kStages * BM * kLdA * 4 + kStages * BN * kLdB * 2 + BM * 16;
}

// VEC_A: floats per A copy (4 when Cin % 4 == 0 so a 16-byte copy never straddles two taps, else 1).
// VEC_B: 16-byte weight copies (w_ld % 8 == 0, aligned) or element-wise loads.
template <int BM, int BN, int WARPS_M, int WARPS_N, int VEC_A, bool VEC_B>
__global__ void __launch_bounds__(WARPS_M* WARPS_N * 32) conv3d_igemm_kernel(const ConvArgs a) {
  constexpr int kThreads = WARPS_M * WARPS_N * 32;
  constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;  // warp tile
  constexpr int MT = WM / 16, NT = WN / 8;             // mma tiles per warp
  static_assert(WM % 16 == 0 && WN % 8 == 0, "warp tile must be whole mma tiles");
  constexpr int kChunksA = kBK / VEC_A;  // copies per A row
  static_assert(kThreads % kChunksA == 0, "a thread's A copies must share one k");
  constexpr int kChunkB = VEC_B ? 8 : 1;
  constexpr int kChunksB = kBK / kChunkB;
  static_assert(kThreads % kChunksB == 0, "a thread's B copies must share one k");

  extern __shared__ __align__(16) unsigned char smem[];
  float* As = reinterpret_cast<float*>(smem);                          // [kStages][BM][kLdA]
  uint16_t* Bs = reinterpret_cast<uint16_t*>(As + kStages * BM * kLdA);  // [kStages][BN][kLdB]
  int4* rows = reinterpret_cast<int4*>(Bs + kStages * BN * kLdB);        // [BM]

  const int tid = threadIdx.x;
  const int n_tile = static_cast<int>(blockIdx.x % static_cast<unsigned>(a.n_tiles));
  const int m_tile = static_cast<int>(blockIdx.x / static_cast<unsigned>(a.n_tiles));
  const int m0 = m_tile * BM, n0 = n_tile * BN;

  // Per output pixel of the tile, where its receptive field starts (conv3d_gather.cuh), computed
  // once: the divisions by Ho*Wo and Wo are then out of the K loop.
  for (int r = tid; r < BM; r += kThreads) rows[r] = conv_row_origin(a, m0 + r);
  __syncthreads();

  // ---- producers: one K step of A and B into stage `st`
  const int a_chunk = tid % kChunksA;  // this thread's column of A copies, fixed for every step
  auto load_a = [&](int st, int k0) {
    // VEC_A consecutive columns share this tap: with VEC_A = 4, Cin % 4 == 0 and k % 4 == 0.
    const ConvTap tap = conv_tap(a, k0 + a_chunk * VEC_A);
    float* dst_col = As + st * BM * kLdA + a_chunk * VEC_A;
#pragma unroll 4
    for (int r = tid / kChunksA; r < BM; r += kThreads / kChunksA) {
      const float* src = conv_source(a, rows[r], tap);
      cp_async_zfill<VEC_A * 4>(dst_col + r * kLdA, src ? src : a.x, src != nullptr);
    }
  };
  const int b_chunk = tid % kChunksB;
  auto load_b = [&](int st, int k0) {
    const int k = k0 + b_chunk * kChunkB;
    uint16_t* dst_col = Bs + st * BN * kLdB + b_chunk * kChunkB;
#pragma unroll 4
    for (int r = tid / kChunksB; r < BN; r += kThreads / kChunksB) {
      const int n = n0 + r;
      // With 16-byte copies w_ld % 8 == 0, so a chunk starting below K ends within the row (its tail
      // past K is the zero padding the header requires).
      const bool ok = n < a.Cout && k < a.K;
      const uint16_t* src = ok ? a.w + n * a.w_ld + k : a.w;
      if constexpr (VEC_B) {
        cp_async_zfill<16>(dst_col + r * kLdB, src, ok);
      } else {
        dst_col[r * kLdB] = ok ? *src : uint16_t{0};  // visible after the step's __syncthreads
      }
    }
  };

  // ---- consumers
  const int warp = tid / 32, lane = tid % 32;
  const int wm = warp / WARPS_N, wn = warp % WARPS_N;
  const int g = lane / 4, q = lane % 4;
  float acc[MT][NT][4];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

  auto compute = [&](int st) {
    const float* At = As + st * BM * kLdA;
    const uint16_t* Bt = Bs + st * BN * kLdB;
#pragma unroll
    for (int ks = 0; ks < kBK; ks += 16) {
      uint32_t af[MT][4], bf[NT][2];
#pragma unroll
      for (int i = 0; i < MT; ++i) {
        const float* r0 = At + (wm * WM + i * 16 + g) * kLdA + ks + 2 * q;
        const float* r1 = r0 + 8 * kLdA;
        const float2 v00 = *reinterpret_cast<const float2*>(r0);
        const float2 v10 = *reinterpret_cast<const float2*>(r1);
        const float2 v01 = *reinterpret_cast<const float2*>(r0 + 8);
        const float2 v11 = *reinterpret_cast<const float2*>(r1 + 8);
        af[i][0] = pack_bf16x2(v00.x, v00.y);
        af[i][1] = pack_bf16x2(v10.x, v10.y);
        af[i][2] = pack_bf16x2(v01.x, v01.y);
        af[i][3] = pack_bf16x2(v11.x, v11.y);
      }
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        const uint16_t* col = Bt + (wn * WN + j * 8 + g) * kLdB + ks + 2 * q;
        bf[j][0] = *reinterpret_cast<const uint32_t*>(col);
        bf[j][1] = *reinterpret_cast<const uint32_t*>(col + 8);
      }
#pragma unroll
      for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j) mma_bf16_16816(acc[i][j], af[i], bf[j]);
    }
  };

  // ---- double-buffered main loop: one commit group per step (possibly empty), so "all but the
  // newest group done" always means "step kt has landed".
  load_a(0, 0);
  load_b(0, 0);
  cp_async_commit();
  for (int kt = 0; kt < a.k_tiles; ++kt) {
    if (kt + 1 < a.k_tiles) {
      load_a((kt + 1) % kStages, (kt + 1) * kBK);
      load_b((kt + 1) % kStages, (kt + 1) * kBK);
    }
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    compute(kt % kStages);
    __syncthreads();  // the next iteration refills this stage
  }

  // ---- epilogue: bias, optional residual, straight from the accumulators.
#pragma unroll
  for (int j = 0; j < NT; ++j) {
    const int n = n0 + wn * WN + j * 8 + 2 * q;
    if (n >= a.Cout) continue;
    const bool has_n1 = n + 1 < a.Cout;
    float b0 = 0.0f, b1 = 0.0f;
    if (a.bias_f32) {
      b0 = a.bias_f32[n];
      b1 = has_n1 ? a.bias_f32[n + 1] : 0.0f;
    } else if (a.bias_bf16) {
      b0 = __bfloat162float(__ushort_as_bfloat16(a.bias_bf16[n]));
      b1 = has_n1 ? __bfloat162float(__ushort_as_bfloat16(a.bias_bf16[n + 1])) : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < MT; ++i) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int m = m0 + wm * WM + i * 16 + g + half * 8;
        if (m >= a.M) continue;
        float* out = a.y + static_cast<int64_t>(m) * a.Cout + n;
        float v0 = acc[i][j][2 * half] + b0, v1 = acc[i][j][2 * half + 1] + b1;
        if (a.pair_store) {  // Cout even: n even means n + 1 exists too
          float2* out2 = reinterpret_cast<float2*>(out);
          if (a.accumulate) {
            const float2 old = *out2;
            v0 += old.x;
            v1 += old.y;
          }
          *out2 = make_float2(v0, v1);
        } else {
          out[0] = a.accumulate ? out[0] + v0 : v0;
          if (has_n1) out[1] = a.accumulate ? out[1] + v1 : v1;
        }
      }
    }
  }
}

template <int BM, int BN, int WARPS_M, int WARPS_N, int VEC_A, bool VEC_B>
int launch_tile(const ConvArgs& a, int64_t blocks, cudaStream_t stream) {
  auto kernel = conv3d_igemm_kernel<BM, BN, WARPS_M, WARPS_N, VEC_A, VEC_B>;
  constexpr int smem = conv_smem_bytes<BM, BN>();
  // Over the 48 KiB default: opt in (per device, cheap; done every launch so a second device works).
  cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (e != cudaSuccess) return static_cast<int>(e);
  kernel<<<static_cast<unsigned>(blocks), WARPS_M * WARPS_N * 32, smem, stream>>>(a);
  return static_cast<int>(cudaGetLastError());
}

// VEC_A = 1 always comes with element-wise weights: Cin % 4 != 0 means the activations decide the
// speed (only the RGB input conv), and it keeps the instantiation count (compile time) down.
template <int BM, int BN, int WARPS_M, int WARPS_N>
int launch_vec(const ConvArgs& a, int64_t blocks, bool vec_a, bool vec_b, cudaStream_t stream) {
  if (vec_a && vec_b) return launch_tile<BM, BN, WARPS_M, WARPS_N, 4, true>(a, blocks, stream);
  if (vec_a) return launch_tile<BM, BN, WARPS_M, WARPS_N, 4, false>(a, blocks, stream);
  return launch_tile<BM, BN, WARPS_M, WARPS_N, 1, false>(a, blocks, stream);
}

static bool aligned(const void* p, uintptr_t bytes) { return (reinterpret_cast<uintptr_t>(p) % bytes) == 0; }

}  // namespace video_detail

const char* video_params_error(const Conv3dKernelParams& p) {
  if (p.T < 0 || p.P < 0 || p.H <= 0 || p.W <= 0) return "conv3d: T and P must be >= 0, H and W > 0";
  if (p.Cin <= 0 || p.Cout <= 0) return "conv3d: Cin and Cout must be > 0";
  if (p.kt <= 0 || p.kh <= 0 || p.kw <= 0) return "conv3d: kernel sizes kt, kh, kw must be > 0";
  if (p.stride_t <= 0 || p.stride_h <= 0 || p.stride_w <= 0) return "conv3d: strides must be > 0";
  if (p.pad_top < 0 || p.pad_bottom < 0 || p.pad_left < 0 || p.pad_right < 0 || p.pad_front < 0)
    return "conv3d: paddings must be >= 0";
  if (p.pad_front + p.P + p.T < p.kt) return "conv3d: fewer frames (pad_front + P + T) than kt";
  if (p.H + p.pad_top + p.pad_bottom < p.kh || p.W + p.pad_left + p.pad_right < p.kw)
    return "conv3d: padded frame smaller than the kernel";
  if (!p.x && p.T > 0) return "conv3d: x is null";
  if (!p.past && p.P > 0) return "conv3d: past is null with P > 0";
  if (!p.w || !p.y) return "conv3d: w or y is null";
  if (p.bias_f32 && p.bias_bf16) return "conv3d: give bias_f32 or bias_bf16, not both";
  const int64_t K = int64_t{p.kt} * p.kh * p.kw * p.Cin;
  if (K > INT_MAX / 2) return "conv3d: K = kt*kh*kw*Cin too large";
  if (p.w_ld != 0 && p.w_ld < K) return "conv3d: w_ld smaller than K = kt*kh*kw*Cin";
  const int64_t M = int64_t{conv3d_out_frames(p)} * conv3d_out_height(p) * conv3d_out_width(p);
  if (M > INT_MAX - 256) return "conv3d: more than 2^31 output pixels in one call";
  if (int64_t{p.pad_front} + p.P + p.T > INT_MAX / 4) return "conv3d: too many frames";
  return nullptr;
}

int launch_conv3d(const Conv3dKernelParams& p, void* stream) {
  using namespace video_detail;
  if (video_params_error(p)) return static_cast<int>(cudaErrorInvalidValue);
  const int To = conv3d_out_frames(p), Ho = conv3d_out_height(p), Wo = conv3d_out_width(p);
  const int M = To * Ho * Wo;
  if (M == 0) return 0;

  ConvArgs a = make_conv_args(p);
  a.k_tiles = (a.K + kBK - 1) / kBK;
  a.pair_store = p.Cout % 2 == 0 && aligned(p.y, 8);

  // 16-byte activation copies need every pixel row (Cin floats) and both frame bases 16-byte aligned.
  const bool vec_a = p.Cin % 4 == 0 && aligned(a.x, 16) && (!p.past || aligned(p.past, 16));
  const bool vec_b = a.w_ld % 8 == 0 && aligned(p.w, 16);
  auto s = static_cast<cudaStream_t>(stream);
  constexpr int BM = 128;
  const int64_t m_tiles = (M + BM - 1) / BM;
  // N tile by Cout: the RGB/latent heads (Cout 3..48) would waste most of a 128-wide tile.
  if (p.Cout <= 32) {
    a.n_tiles = 1;
    return launch_vec<BM, 32, 8, 1>(a, m_tiles, vec_a, vec_b, s);
  }
  if (p.Cout <= 64) {
    a.n_tiles = 1;
    return launch_vec<BM, 64, 4, 2>(a, m_tiles, vec_a, vec_b, s);
  }
  a.n_tiles = (p.Cout + 127) / 128;
  const int64_t blocks = m_tiles * a.n_tiles;
  if (blocks > INT_MAX) return static_cast<int>(cudaErrorInvalidValue);
  return launch_vec<BM, 128, 2, 4>(a, blocks, vec_a, vec_b, s);
}

}  // namespace wan::cuda
