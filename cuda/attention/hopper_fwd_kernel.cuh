#pragma once
// Hopper (sm_90a) attention forward in the manner of FlashAttention-3: warp-specialised
// producer/consumer warpgroups, TMA bulk tensor copies completing on mbarriers, wgmma with f32
// accumulators, and the softmax of one tile overlapped with the matrix products of the next.
//
// Warpgroup 0 (producer) gives up registers (setmaxnreg 24); one thread loads Q once, then K and V
// tiles into a ring of kStages stages: it waits on a stage's "empty" barrier (released by the 8
// consumer warps), announces the bytes on its "full" barrier and issues the copies.
// Warpgroups 1 and 2 (consumers, setmaxnreg 240) own 64 query rows each. Per key tile j:
//     issue S_j = Q K_j^T                       (async)
//     issue O  += P_{j-1} V_{j-1}               (async, P from registers)
//     wait for S_j; release K_j; softmax of S_j (overlaps the P V product in flight)
//     wait for P V; release V_{j-1}; rescale O; P_j = pack(S_j)
// With kPingPong the two consumers take turns issuing (named barriers 1 and 2), so that one
// warpgroup's exponentials run while the other's products occupy the tensor cores.
//
// Semantics are those of cuda/attention/README.md (masking, zero rows, accumulate, strides, f32 or
// bf16 out). Rows beyond seq_q / keys beyond seq_k are zero-filled by TMA (per batch, through the
// tensor map's bounds) and masked. The e4m3 variant reads q8/k8/vt8 and their per-block scales
// (hopper_layout.cuh) produced by the quantize kernel (hopper_fwd_fp8.cu).
//
// Built for sm_90a only (__CUDA_ARCH_FEAT_SM90_ALL); every other target compiles a stub that
// carries a static shared-memory marker, which hopper_fwd.cu reads (cudaFuncGetAttributes) to
// know whether the real kernel is in the binary before ever launching it.
#include <cuda.h>  // CUtensorMap (the type only: tensor maps are encoded through the runtime's driver entry point)
#include <cuda_runtime.h>

#include <cstdint>

#include "hopper_fwd_config.cuh"
#include "hopper_fwd_flow.cuh"
#include "hopper_layout.cuh"
#include "hopper_ptx.cuh"
#include "hopper_softmax.cuh"
#include "hopper_wgmma.cuh"

namespace wan::cuda::hopper {

struct FwdArgs {
  CUtensorMap tm_q, tm_k, tm_v;  // 64-byte aligned: first in the struct
  void* out;
  int64_t out_row_stride;
  const int32_t* key_mask;  // [batch, seq_k] or null
  const float* q_scale;     // e4m3 only: [batch, heads, n_q_blocks]
  const float* k_scale;     // [batch, heads, n_k_blocks]
  const float* v_scale;
  int seq_q, seq_k, heads, head_dim;
  int n_q_blocks, n_k_blocks;
  float scale_log2;  // softmax scale · log2(e)
  int out_f32, accumulate;
};

// The producer's operations: one thread issues every copy.
template <class C>
struct ProducerOps {
  const FwdArgs& a;
  uint32_t base;
  __device__ __forceinline__ void expect_tx(int bar, uint32_t bytes) { mbar_arrive_expect_tx(C::barrier(base, bar), bytes); }
  __device__ __forceinline__ void wait(int bar, uint32_t parity) { mbar_wait(C::barrier(base, bar), parity); }
  __device__ __forceinline__ void load(MapId map, uint32_t smem_offset, int c0, int c1, int c2, int c3, int bar) {
    const CUtensorMap* m = map == kMapQ ? &a.tm_q : map == kMapK ? &a.tm_k : &a.tm_v;
    tma_load_4d(base + smem_offset, m, c0, c1, c2, c3, C::barrier(base, bar));
  }
};

// A consumer thread's operations and registers: S (kBlockN/2), O (kHeadDim/2), packed P.
template <class C>
struct ConsumerOps {
  const FwdArgs& a;
  uint32_t base;
  int cw, warp, lane, q0, h, b;
  const int32_t* mask_row;
  int64_t scale_row;
  float s[C::kBlockN / 2];
  float o[C::kHeadDim / 2];
  uint32_t pa[C::kPRegs];
  RowState st;
  float alpha[2];  // the last softmax's rescale factor of each row

  __device__ __forceinline__ void wait(int bar, uint32_t parity) { mbar_wait(C::barrier(base, bar), parity); }
  // one arrival per warp, after that warp's own wgmma wait: the stage's 8 arrivals free it
  __device__ __forceinline__ void release(int bar) {
    if (lane == 0) mbar_arrive(C::barrier(base, bar));
  }
  __device__ __forceinline__ void sched_sync(uint32_t id) { named_bar_sync(id, 256); }
  __device__ __forceinline__ void sched_arrive(uint32_t id) { named_bar_arrive(id, 256); }
  __device__ __forceinline__ void fence() { wgmma_fence(); }
  __device__ __forceinline__ void commit() { wgmma_commit(); }
  template <int N>
  __device__ __forceinline__ void wait_group() {
    wgmma_wait<N>();
  }
  __device__ __forceinline__ void fence_s() { fence_regs(s); }
  __device__ __forceinline__ void fence_o() {
    fence_regs(o);
    fence_regs(pa);
  }
  __device__ __forceinline__ void issue_qk(int stage) {
#pragma unroll
    for (int t = 0; t < C::kQKSteps; ++t) {
      if constexpr (C::kFp8)
        wgmma_e4m3_ss(s, C::q_desc(base, cw, t), C::k_desc(base, stage, t), t > 0);
      else
        wgmma_bf16_ss(s, C::q_desc(base, cw, t), C::k_desc(base, stage, t), t > 0);
    }
  }
  __device__ __forceinline__ void issue_pv(int stage) {
#pragma unroll
    for (int t = 0; t < C::kPVSteps; ++t) {
      const uint32_t a4[4] = {pa[4 * t], pa[4 * t + 1], pa[4 * t + 2], pa[4 * t + 3]};
      if constexpr (C::kFp8)
        wgmma_e4m3_rs(o, a4, C::v_desc(base, stage, t), 1);
      else
        wgmma_bf16_rs_bt(o, a4, C::v_desc(base, stage, t), 1);
    }
  }
  __device__ __forceinline__ float q_scale() const { return C::kFp8 ? a.q_scale[scale_row * a.n_q_blocks + blockIdx.x] : 1.f; }
  __device__ __forceinline__ float k_scale(int j) const { return C::kFp8 ? a.k_scale[scale_row * a.n_k_blocks + j] : 1.f; }
  __device__ __forceinline__ float v_scale(int j) const { return C::kFp8 ? a.v_scale[scale_row * a.n_k_blocks + j] : 1.f; }
  __device__ __forceinline__ void softmax(int j, float scale_mult) {
    if (tile_needs_mask<C>(j, a.seq_k, mask_row)) mask_tile<C::kBlockN>(s, lane, j * C::kBlockN, a.seq_k, mask_row);
    float mx[2];
    row_max<C::kBlockN>(s, mx);
#pragma unroll
    for (int r = 0; r < 2; ++r) {  // the 4 lanes of a quad hold the same two rows
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    }
    exp_tile<C::kBlockN>(s, mx, a.scale_log2 * scale_mult, C::kPLog2Offset, st, alpha);
  }
  __device__ __forceinline__ void pack() {
    if constexpr (C::kFp8)
      pack_p_e4m3<C::kBlockN>(s, pa);
    else
      pack_p_bf16<C::kBlockN>(s, pa);
  }
  __device__ __forceinline__ void rescale(float ratio) { rescale_o<C::kHeadDim>(o, alpha[0] * ratio, alpha[1] * ratio); }
  __device__ __forceinline__ void finish(float o_factor) {
    float f[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float l = st.l[r];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      f[r] = final_factor(l, o_factor);
    }
    const OutView v{a.out, a.out_row_stride, a.seq_q, a.out_f32 != 0, a.accumulate != 0};
    store_rows<C::kHeadDim>(v, o, f, q0 + cw * kWarpgroupRows, b, h, warp, lane);
  }
};

template <class C>
__global__ void __launch_bounds__(C::kThreads, 1) hopper_fwd_kernel(const __grid_constant__ FwdArgs a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  const uint32_t base = (smem_u32(smem_raw) + (kSwizzleAtom - 1)) & ~(kSwizzleAtom - 1);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, wg = warp >> 2;
  const int q0 = blockIdx.x * C::kBlockM, h = blockIdx.y, b = blockIdx.z;

  if (threadIdx.x == 0) {
    tma_prefetch_map(&a.tm_q);
    tma_prefetch_map(&a.tm_k);
    tma_prefetch_map(&a.tm_v);
    mbar_init(C::barrier(base, 0), 1);
#pragma unroll
    for (int s = 0; s < C::kStages; ++s) {
      mbar_init(C::barrier(base, 1 + s), 1);                                    // K full: producer
      mbar_init(C::barrier(base, 1 + C::kStages + s), C::kConsumerWarps);      // K empty: consumer warps
      mbar_init(C::barrier(base, 1 + 2 * C::kStages + s), 1);                  // V full
      mbar_init(C::barrier(base, 1 + 3 * C::kStages + s), C::kConsumerWarps);  // V empty
    }
    mbar_init_fence();
  }
  __syncthreads();

  if (wg == 0) {
    setmaxnreg_dec<C::kProducerRegs>();
    if (warp == 0 && lane == 0) {
      ProducerOps<C> ops{a, base};
      producer_flow<C>(ops, q0, h, b, a.seq_k);
    }
  } else {
    setmaxnreg_inc<C::kConsumerRegs>();
    ConsumerOps<C> ops{a, base, wg - 1, warp & 3, lane, q0, h, b,
                       a.key_mask ? a.key_mask + static_cast<int64_t>(b) * a.seq_k : nullptr,
                       static_cast<int64_t>(b) * a.heads + h};
#pragma unroll
    for (int i = 0; i < C::kHeadDim / 2; ++i) ops.o[i] = 0.f;
    init_rows(ops.st);
    consumer_flow<C>(ops, (a.seq_k + C::kBlockN - 1) / C::kBlockN, wg - 1);
  }
#else
  // Not an sm_90a target: never launched. The static shared array marks this build of the kernel
  // (cudaFuncAttributes::sharedSizeBytes != 0) for hopper_fwd.cu's check; the impossible branch
  // keeps the compiler from removing it.
  __shared__ int not_built[4];
  if (a.seq_q < 0) {
    not_built[threadIdx.x & 3] = a.seq_k;
    __syncthreads();
    static_cast<int*>(a.out)[threadIdx.x] = not_built[(threadIdx.x + 1) & 3];
  }
#endif
}

}  // namespace wan::cuda::hopper
