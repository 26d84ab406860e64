#pragma once
// The control flow of the Hopper attention's two roles, written once over an `Ops` type: the
// kernel (hopper_fwd_kernel.cuh) instantiates it with operations that are PTX instructions; the
// host emulation (tests/hopper_emulation_test.cpp) with models of them (mbarrier phases and
// transaction counts, named-barrier arrival counts, TMA boxes, wgmma groups that complete only at
// wait_group), each role on its own host thread. So the barrier protocol, the stage/parity
// arithmetic, the TMA coordinates and the order of products, softmax, rescale and release below are
// exactly what the device runs.
//
// Producer Ops: expect_tx(bar, bytes), wait(bar, parity), load(map, smem_offset, c0, c1, c2, c3, bar).
// Consumer Ops: wait(bar, parity), release(bar) (one arrival per consumer warp), sched_sync(id),
//   sched_arrive(id) (named barriers of 256 threads), fence(), commit(), wait_group<N>(),
//   fence_s(), fence_o(), issue_qk(stage), issue_pv(stage), q_scale(), k_scale(j), v_scale(j),
//   softmax(j, scale_mult) (keeps each row's rescale factor alpha), pack(), rescale(ratio) (O rows
//   times alpha · ratio), finish(o_factor).
#include <cstdint>

#include "hopper_fwd_config.cuh"
#include "hopper_layout.cuh"
#include "hopper_softmax.cuh"

#if defined(__CUDACC__)
#define WAN_FLOW __device__ __forceinline__
#else
#define WAN_FLOW inline
#endif

namespace wan::cuda::hopper {

template <class C, class Ops>
WAN_FLOW void producer_flow(Ops& ops, int q0, int h, int b, int seq_k) {
  ops.expect_tx(C::kBarQ, C::kQBytes);
#pragma unroll
  for (int p = 0; p < C::kPanels; ++p) ops.load(kMapQ, C::q_panel(0, p), p * C::kPanelElems, h, q0, b, C::kBarQ);
  const int n_tiles = (seq_k + C::kBlockN - 1) / C::kBlockN;
  for (int j = 0; j < n_tiles; ++j) {
    const int s = j % C::kStages;
    const uint32_t use = static_cast<uint32_t>(j / C::kStages);
    const int key0 = j * C::kBlockN;
    // the stage's previous tile must have been released by all 8 consumer warps
    if (use > 0) ops.wait(C::bar_empty_k(s), (use - 1) & 1);
    ops.expect_tx(C::bar_full_k(s), C::kKBytes);
#pragma unroll
    for (int p = 0; p < C::kPanels; ++p)
      ops.load(kMapK, C::k_panel(0, s, p), p * C::kPanelElems, h, key0, b, C::bar_full_k(s));
    if (use > 0) ops.wait(C::bar_empty_v(s), (use - 1) & 1);
    ops.expect_tx(C::bar_full_v(s), C::kVBytes);
    if constexpr (C::kFp8) {
      ops.load(kMapV, C::v_panel(0, s, 0), key0, 0, h, b, C::bar_full_v(s));  // V^T: [head_dim][keys]
    } else {
#pragma unroll
      for (int p = 0; p < C::kVPanels; ++p) ops.load(kMapV, C::v_panel(0, s, p), p * 64, h, key0, b, C::bar_full_v(s));
    }
  }
}

// Consumer `cw` (0 or 1) of a CTA; n_tiles >= 1.
template <class C, class Ops>
WAN_FLOW void consumer_flow(Ops& ops, int n_tiles, int cw) {
  const uint32_t bar_self = 1 + cw, bar_other = 2 - cw;  // named barriers 1 and 2: ping-pong turns
  if (C::kPingPong && cw == 1) ops.sched_arrive(1);      // consumer 0 issues first
  ops.wait(C::kBarQ, 0);

  // Tile 0: S_0, its softmax, P_0.
  ops.wait(C::bar_full_k(0), 0);
  if (C::kPingPong) ops.sched_sync(bar_self);
  ops.fence();
  ops.issue_qk(0);
  ops.commit();
  if (C::kPingPong) ops.sched_arrive(bar_other);
  ops.template wait_group<0>();
  ops.fence_s();
  ops.release(C::bar_empty_k(0));
  const float q_sc = ops.q_scale();
  float v_sc_prev = ops.v_scale(0);
  ops.softmax(0, q_sc * ops.k_scale(0));
  ops.pack();

  for (int j = 1; j < n_tiles; ++j) {
    const int sk = j % C::kStages, sv = (j - 1) % C::kStages;
    const float k_sc = ops.k_scale(j), v_sc = ops.v_scale(j);  // loads in flight during the products
    ops.wait(C::bar_full_k(sk), (j / C::kStages) & 1);
    // V_{j-1} landed long ago in practice; waiting here keeps the fence next to the products
    ops.wait(C::bar_full_v(sv), ((j - 1) / C::kStages) & 1);
    if (C::kPingPong) ops.sched_sync(bar_self);
    ops.fence();
    ops.issue_qk(sk);
    ops.commit();
    ops.issue_pv(sv);
    ops.commit();
    if (C::kPingPong) ops.sched_arrive(bar_other);
    ops.template wait_group<1>();  // S_j done; P_{j-1} V_{j-1} may still run
    ops.fence_s();
    ops.release(C::bar_empty_k(sk));
    ops.softmax(j, q_sc * k_sc);  // overlaps the P V product
    ops.template wait_group<0>();        // O and the P registers are ours again
    ops.fence_o();
    ops.release(C::bar_empty_v(sv));
    // e4m3: O is kept in units of the current V block's scale (the real O is o · v_scale)
    const float ratio = C::kFp8 ? v_sc_prev / v_sc : 1.f;
    v_sc_prev = v_sc;
    ops.rescale(ratio);
    ops.pack();
  }

  const int sv = (n_tiles - 1) % C::kStages;
  ops.wait(C::bar_full_v(sv), ((n_tiles - 1) / C::kStages) & 1);
  if (C::kPingPong) ops.sched_sync(bar_self);
  ops.fence();
  ops.issue_pv(sv);
  ops.commit();
  // consumer 1 was given one turn at the start; it hands back one fewer so the counts match
  if (C::kPingPong && cw == 0) ops.sched_arrive(bar_other);
  ops.template wait_group<0>();
  ops.fence_o();
  ops.finish(v_sc_prev);
}

// Whether tile j needs the per-element key predicate (the last, partial tile, or a key mask).
template <class C>
WAN_HD bool tile_needs_mask(int j, int seq_k, const int32_t* mask_row) {
  return mask_row != nullptr || (j + 1) * C::kBlockN > seq_k;
}

// Where the epilogue writes: [batch, seq_q, heads · head_dim] rows of f32 or bf16.
struct OutView {
  void* out;
  int64_t row_stride;
  int seq_q;
  bool f32, accumulate;
};

WAN_HD float bf16_bits_to_float(uint32_t bits16) {
  const uint32_t u = bits16 << 16;
  float f;
#if defined(__CUDA_ARCH__)
  f = __uint_as_float(u);
#else
  std::memcpy(&f, &u, 4);
#endif
  return f;
}

// One thread's two rows of O (times their final factors f) to the output; row0 = the first query
// row of its warpgroup.
template <int kHeadDim>
WAN_HD void store_rows(const OutView& v, const float (&o)[kHeadDim / 2], const float (&f)[2], int row0, int b, int h,
                       int warp, int lane) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row0 + acc_row(warp, lane, 2 * r);
    if (row >= v.seq_q) continue;
    const int64_t base = (static_cast<int64_t>(b) * v.seq_q + row) * v.row_stride + static_cast<int64_t>(h) * kHeadDim;
#pragma unroll
    for (int jd = 0; jd < kHeadDim / 8; ++jd) {
      const int col = acc_col(lane, 4 * jd);
      float v0 = o[4 * jd + 2 * r] * f[r], v1 = o[4 * jd + 2 * r + 1] * f[r];
      if (v.f32) {
        float* dst = static_cast<float*>(v.out) + base + col;  // 8-byte aligned: even column and row stride
#if defined(__CUDA_ARCH__)
        float2* dst2 = reinterpret_cast<float2*>(dst);
        if (v.accumulate) {
          const float2 old = *dst2;
          v0 += old.x;
          v1 += old.y;
        }
        *dst2 = make_float2(v0, v1);
#else
        if (v.accumulate) {
          v0 += dst[0];
          v1 += dst[1];
        }
        dst[0] = v0;
        dst[1] = v1;
#endif
      } else {
        uint32_t* dst = reinterpret_cast<uint32_t*>(static_cast<uint16_t*>(v.out) + base + col);
        if (v.accumulate) {
          const uint32_t old = *dst;
          v0 += bf16_bits_to_float(old & 0xffffu);
          v1 += bf16_bits_to_float(old >> 16);
        }
        *dst = pack_bf16x2(v0, v1);
      }
    }
  }
}

}  // namespace wan::cuda::hopper
