// The e4m3 path of the Hopper attention: the quantize kernel (bf16 q, k, v -> e4m3 with one float
// scale per block of 128 rows of one (batch, head); V written transposed with its keys permuted to
// match the register layout of P, see hopper_layout.cuh) and the e4m3 kernel configurations
// (sm_90a only, __CUDA_ARCH_FEAT_SM90_ALL).
#include <cuda_runtime.h>

#include <cstdint>

#include "hopper_fwd_launch.cuh"
#include "hopper_layout.cuh"
#include "hopper_softmax.cuh"

namespace wan::cuda::hopper {

namespace {

constexpr int kQuantThreads = 256;
constexpr int kQuantDim = 128;                                  // head dim of the e4m3 path
constexpr int kChunksPerRow = kQuantDim / 8;                    // 16-byte chunks of 8 bf16
[[maybe_unused]] constexpr int kChunksPerThread = kFp8BlockRows * kChunksPerRow / kQuantThreads;

struct QuantizeArgs {
  const uint16_t* src;
  int64_t src_row_stride;
  int seq, heads, n_blocks;
  uint8_t* dst;  // q8/k8 rows, or vt8 when transpose
  float* scales;
  int64_t seq_pad;
  int transpose;
};

[[maybe_unused]] __device__ __forceinline__ float bf16_lo(uint32_t w) { return __uint_as_float(w << 16); }
[[maybe_unused]] __device__ __forceinline__ float bf16_hi(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }

// One CTA = one block of 128 rows of one (batch, head): amax -> scale = amax / 448 -> e4m3.
// Like the attention, only built for sm_90a (cvt to e4m3 needs sm_89+; nothing else launches it).
__global__ void __launch_bounds__(kQuantThreads) quantize_e4m3_kernel(const QuantizeArgs a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  __shared__ float warp_max[kQuantThreads / 32];
  __shared__ __align__(16) uint8_t tile[kFp8BlockRows][kQuantDim + 8];  // V only: [key][d], rows padded (8-byte aligned)
  const int blk = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int r0 = blk * kFp8BlockRows;
  const int rows = min(kFp8BlockRows, a.seq - r0);

  uint4 v[kChunksPerThread];
  float amax = 0.f;
#pragma unroll
  for (int k = 0; k < kChunksPerThread; ++k) {
    const int i = threadIdx.x + k * kQuantThreads, row = i / kChunksPerRow, c = i % kChunksPerRow;
    v[k] = make_uint4(0, 0, 0, 0);
    if (row < rows) {
      const uint16_t* src = a.src + (static_cast<int64_t>(b) * a.seq + r0 + row) * a.src_row_stride +
                            static_cast<int64_t>(h) * kQuantDim + c * 8;
      v[k] = *reinterpret_cast<const uint4*>(src);
    }
    const uint32_t w[4] = {v[k].x, v[k].y, v[k].z, v[k].w};
#pragma unroll
    for (int e = 0; e < 4; ++e) amax = fmaxf(amax, fmaxf(fabsf(bf16_lo(w[e])), fabsf(bf16_hi(w[e]))));
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, off));
  if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = amax;
  __syncthreads();
  amax = warp_max[0];
#pragma unroll
  for (int i = 1; i < kQuantThreads / 32; ++i) amax = fmaxf(amax, warp_max[i]);
  // a block of zeros keeps scale 1; non-finite input gives a non-finite scale (and output), as bf16 would
  const float scale = amax > 0.f ? amax / kE4m3Max : 1.f;
  const float inv = amax > 0.f ? kE4m3Max / amax : 1.f;
  if (threadIdx.x == 0) a.scales[(static_cast<int64_t>(b) * a.heads + h) * a.n_blocks + blk] = scale;

#pragma unroll
  for (int k = 0; k < kChunksPerThread; ++k) {
    const int i = threadIdx.x + k * kQuantThreads, row = i / kChunksPerRow, c = i % kChunksPerRow;
    const uint32_t w[4] = {v[k].x, v[k].y, v[k].z, v[k].w};
    const uint32_t lo = pack_e4m3x4(bf16_lo(w[0]) * inv, bf16_hi(w[0]) * inv, bf16_lo(w[1]) * inv, bf16_hi(w[1]) * inv);
    const uint32_t hi = pack_e4m3x4(bf16_lo(w[2]) * inv, bf16_hi(w[2]) * inv, bf16_lo(w[3]) * inv, bf16_hi(w[3]) * inv);
    if (a.transpose) {
      *reinterpret_cast<uint2*>(&tile[row][c * 8]) = make_uint2(lo, hi);  // rows >= seq hold zeros
    } else if (row < rows) {
      uint8_t* dst = a.dst + ((static_cast<int64_t>(b) * a.seq + r0 + row) * a.heads + h) * kQuantDim + c * 8;
      *reinterpret_cast<uint2*>(dst) = make_uint2(lo, hi);
    }
  }
  if (!a.transpose) return;
  __syncthreads();
  // V^T: 128 rows (head dim) of 128 keys; 16-byte chunk kc of row d holds logical keys
  // 16·kc .. 16·kc+15, each the key vt8_key() names.
  constexpr int kOutChunks = kQuantDim * (kFp8BlockRows / 16);
#pragma unroll
  for (int k = 0; k < kOutChunks / kQuantThreads; ++k) {
    const int i = threadIdx.x + k * kQuantThreads, d = i / (kFp8BlockRows / 16), kc = i % (kFp8BlockRows / 16);
    uint32_t w[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      uint32_t word = 0;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = static_cast<int>(vt8_key(kc * 16 + q * 4 + e));
        word |= static_cast<uint32_t>(tile[key][d]) << (8 * e);
      }
      w[q] = word;
    }
    uint8_t* dst = a.dst + vt8_offset(b, h, d, r0 + kc * 16, a.heads, kQuantDim, a.seq_pad);
    *reinterpret_cast<uint4*>(dst) = make_uint4(w[0], w[1], w[2], w[3]);
  }
#endif
}

}  // namespace

cudaError_t launch_fp8_quantize(const FlashAttentionParams& p, const Fp8Workspace& w, cudaStream_t stream) {
  auto run = [&](const uint16_t* src, int64_t stride, int seq, int n_blocks, uint8_t* dst, float* scales,
                 bool transpose) {
    QuantizeArgs a;
    a.src = src;
    a.src_row_stride = stride;
    a.seq = seq;
    a.heads = p.heads;
    a.n_blocks = n_blocks;
    a.dst = dst;
    a.scales = scales;
    a.seq_pad = w.seq_k_pad;
    a.transpose = transpose ? 1 : 0;
    quantize_e4m3_kernel<<<dim3(n_blocks, p.heads, p.batch), kQuantThreads, 0, stream>>>(a);
    return cudaGetLastError();
  };
  cudaError_t err = run(p.q, p.q_row_stride, p.seq_q, w.n_q_blocks, w.q8, w.q_scale, false);
  if (err == cudaSuccess) err = run(p.k, p.k_row_stride, p.seq_k, w.n_k_blocks, w.k8, w.k_scale, false);
  if (err == cudaSuccess) err = run(p.v, p.v_row_stride, p.seq_k, w.n_k_blocks, w.vt8, w.v_scale, true);
  return err;
}

extern const Variant kFp8Variants[] = {
    {"e4m3-d128-n128-s2-pp", 128, true, launch_config_fp8<FwdConfig<128, 128, 2, true, true>>},
    {"e4m3-d128-n128-s3-pp", 128, true, launch_config_fp8<FwdConfig<128, 128, 3, true, true>>},
    {"e4m3-d128-n128-s4", 128, true, launch_config_fp8<FwdConfig<128, 128, 4, true, false>>},
};
extern const int kFp8VariantCount = sizeof(kFp8Variants) / sizeof(kFp8Variants[0]);

}  // namespace wan::cuda::hopper
