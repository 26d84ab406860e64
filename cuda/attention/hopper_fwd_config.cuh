#pragma once
// Tile configuration and shared-memory map of the Hopper attention forward (hopper_fwd_kernel.cuh),
// host-compilable so that the emulation test uses the same offsets and descriptors.
//
// One CTA = 128 query rows of one (batch, head), three warpgroups: warpgroup 0 produces (one thread
// issues the TMA loads of Q once and of K/V tiles into a kStages-deep ring), warpgroups 1 and 2
// consume (64 query rows each: S = Q K^T, online softmax, O += P V with wgmma).
//
// Shared memory (every tile 1024-aligned, in 128-byte-swizzled panels, see hopper_layout.cuh):
//   Q        kPanels panels of [128 rows][128 B]
//   K[s]     kPanels panels of [kBlockN rows][128 B]                        s < kStages
//   V[s]     bf16: kHeadDim/64 panels of [kBlockN keys][128 B] (MN-major B of P V)
//            e4m3: one panel of [kHeadDim rows][128 keys] (V^T, K-major, keys permuted)
//   barriers Q full, K full[s], K empty[s], V full[s], V empty[s] (8 bytes each)
#include <cstdint>

#include "flash_attention.h"
#include "hopper_layout.cuh"

namespace wan::cuda::hopper {

template <int kHeadDim_, int kBlockN_, int kStages_, bool kFp8_, bool kPingPong_>
struct FwdConfig {
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kBlockN = kBlockN_;   // keys per tile
  static constexpr int kStages = kStages_;   // K/V tiles in flight
  static constexpr bool kFp8 = kFp8_;        // e4m3 Q, K, V^T (per-block scales), f32 accumulation
  static constexpr bool kPingPong = kPingPong_;  // the two consumers take turns issuing their GEMMs
  static constexpr int kConsumers = 2;
  static constexpr int kBlockM = kConsumers * kWarpgroupRows;
  static constexpr int kThreads = 128 * (1 + kConsumers);
  static constexpr int kConsumerWarps = 4 * kConsumers;
  // setmaxnreg: 128·24 + 256·240 = 64,512 of the 65,536 registers
  static constexpr int kProducerRegs = 24;
  static constexpr int kConsumerRegs = 240;

  static constexpr int kElemBytes = kFp8 ? 1 : 2;
  static constexpr int kRowBytes = kHeadDim * kElemBytes;  // a Q or K row
  static constexpr int kPanels = kRowBytes / 128;          // Q and K panels
  static constexpr int kPanelElems = 128 / kElemBytes;     // elements of a row in one panel
  static constexpr uint32_t kQPanelBytes = kBlockM * 128u;
  static constexpr uint32_t kQBytes = kQPanelBytes * kPanels;
  static constexpr uint32_t kKPanelBytes = kBlockN * 128u;
  static constexpr uint32_t kKBytes = kKPanelBytes * kPanels;
  static constexpr uint32_t kVPanelBytes = kFp8 ? kHeadDim * 128u : kBlockN * 128u;
  static constexpr int kVPanels = kFp8 ? 1 : kHeadDim / 64;
  static constexpr uint32_t kVBytes = kVPanelBytes * kVPanels;

  static constexpr uint32_t kQOffset = 0;
  static constexpr uint32_t kKOffset = kQOffset + kQBytes;
  static constexpr uint32_t kVOffset = kKOffset + kStages * kKBytes;
  static constexpr uint32_t kBarOffset = kVOffset + kStages * kVBytes;
  static constexpr int kBarriers = 1 + 4 * kStages;
  // + 1024: the dynamic shared memory base is rounded up to the swizzle atom in the kernel
  static constexpr uint32_t kSmemBytes = kBarOffset + 8 * kBarriers + kSwizzleAtom;

  // wgmma steps: 32 bytes of the reduction dimension per instruction
  static constexpr int kQKSteps = kRowBytes / 32;
  static constexpr int kPVSteps = kFp8 ? kBlockN / 32 : kBlockN / 16;
  static constexpr int kPRegs = kFp8 ? kBlockN / 8 : kBlockN / 4;  // packed P registers per thread
  static constexpr float kPLog2Offset = kFp8 ? 8.f : 0.f;        // see exp_tile

  static_assert(kHeadDim == 64 || kHeadDim == 128, "head dims 64 and 128");
  static_assert(kRowBytes % 128 == 0, "Q/K rows are whole 128-byte panels");
  static_assert(!kFp8 || (kHeadDim == 128 && kBlockN == kFp8BlockRows && kBlockM == kFp8BlockRows),
                "e4m3: head 128 (128-byte rows) and one scale block of keys per tile");
  static_assert(kBlockN % (kFp8 ? 32 : 16) == 0 && kBlockN <= 256, "wgmma N and TMA box limits");
  static_assert(kStages >= 2, "at least double buffering");
  static_assert(kKPanelBytes % kSwizzleAtom == 0 && kVPanelBytes % kSwizzleAtom == 0, "1024-aligned panels");
  static_assert(kSmemBytes <= 227u * 1024u, "Hopper allows 227 KB of shared memory per block");

  // mbarrier indices (each 8 bytes at kBarOffset)
  static constexpr int kBarQ = 0;
  WAN_HD static constexpr int bar_full_k(int s) { return 1 + s; }
  WAN_HD static constexpr int bar_empty_k(int s) { return 1 + kStages + s; }
  WAN_HD static constexpr int bar_full_v(int s) { return 1 + 2 * kStages + s; }
  WAN_HD static constexpr int bar_empty_v(int s) { return 1 + 3 * kStages + s; }

  WAN_HD static uint32_t q_panel(uint32_t base, int p) { return base + kQOffset + p * kQPanelBytes; }
  WAN_HD static uint32_t k_panel(uint32_t base, int stage, int p) {
    return base + kKOffset + stage * kKBytes + p * kKPanelBytes;
  }
  WAN_HD static uint32_t v_panel(uint32_t base, int stage, int p) {
    return base + kVOffset + stage * kVBytes + p * kVPanelBytes;
  }
  WAN_HD static uint32_t barrier(uint32_t base, int index) { return base + kBarOffset + 8 * index; }

  // A of S = Q K^T for consumer `cw` (its 64 rows start 64·128 B into every Q panel), step t.
  WAN_HD static uint64_t q_desc(uint32_t base, int cw, int t) {
    return make_desc_sw128(q_panel(base, 0) + cw * kWarpgroupRows * 128u + kmajor_step_offset(t, kQPanelBytes),
                           16, kKMajorSbo);
  }
  // B of S = Q K^T: the K tile, K-major.
  WAN_HD static uint64_t k_desc(uint32_t base, int stage, int t) {
    return make_desc_sw128(k_panel(base, stage, 0) + kmajor_step_offset(t, kKPanelBytes), 16, kKMajorSbo);
  }
  // B of O += P V: bf16 V is MN-major (LBO = next 64 head-dim columns = next panel); e4m3 V^T is
  // K-major like K.
  WAN_HD static uint64_t v_desc(uint32_t base, int stage, int t) {
    if constexpr (kFp8) {
      return make_desc_sw128(v_panel(base, stage, 0) + kmajor_step_offset(t, kVPanelBytes), 16, kKMajorSbo);
    } else {
      return make_desc_sw128(v_panel(base, stage, 0) + mnmajor_step_offset(t), kVPanelBytes, kMnMajorSbo);
    }
  }
};

// The three tensor maps (TMA descriptors) a launch encodes: a 4-D view, innermost dimension first,
// strides in bytes of dimensions 1..3, and the box one copy moves. Out-of-bounds elements read as
// zero, which is what pads the last tile of each batch.
enum MapId { kMapQ = 0, kMapK = 1, kMapV = 2 };
struct MapSpec {
  uint64_t dims[4];
  uint64_t strides[3];
  uint32_t box[4];
  int elem_bytes;
};

// bf16 q/k/v as the caller laid them out: {head_dim, heads, seq, batch}, the batch stride being
// seq · row_stride (flash_attention.h); a box is one 128-byte panel of 64 elements by `rows` rows.
template <class C>
MapSpec bf16_map_spec(const FlashAttentionParams& p, MapId id) {
  const int64_t stride = id == kMapQ ? p.q_row_stride : id == kMapK ? p.k_row_stride : p.v_row_stride;
  const uint64_t seq = static_cast<uint64_t>(id == kMapQ ? p.seq_q : p.seq_k);
  const uint32_t rows = id == kMapQ ? C::kBlockM : C::kBlockN;
  MapSpec m{};
  m.elem_bytes = 2;
  const uint64_t dims[4] = {static_cast<uint64_t>(C::kHeadDim), static_cast<uint64_t>(p.heads), seq,
                            static_cast<uint64_t>(p.batch)};
  const uint64_t strides[3] = {C::kHeadDim * 2ull, static_cast<uint64_t>(stride) * 2, seq * static_cast<uint64_t>(stride) * 2};
  const uint32_t box[4] = {64, 1, rows, 1};
  for (int i = 0; i < 4; ++i) m.dims[i] = dims[i], m.box[i] = box[i];
  for (int i = 0; i < 3; ++i) m.strides[i] = strides[i];
  return m;
}

// e4m3 workspace tensors (hopper_layout.cuh): q8/k8 {128, heads, seq, batch} with 128-byte rows;
// vt8 {seq_k_pad, 128, heads, batch}, a box being the 128 keys of one tile for all 128 rows.
template <class C>
MapSpec e4m3_map_spec(const FlashAttentionParams& p, MapId id, int64_t seq_k_pad) {
  const uint64_t D = C::kHeadDim, H = static_cast<uint64_t>(p.heads), B = static_cast<uint64_t>(p.batch);
  MapSpec m{};
  m.elem_bytes = 1;
  if (id == kMapV) {
    const uint64_t Skp = static_cast<uint64_t>(seq_k_pad);
    const uint64_t dims[4] = {Skp, D, H, B}, strides[3] = {Skp, D * Skp, H * D * Skp};
    const uint32_t box[4] = {static_cast<uint32_t>(C::kBlockN), static_cast<uint32_t>(C::kHeadDim), 1, 1};
    for (int i = 0; i < 4; ++i) m.dims[i] = dims[i], m.box[i] = box[i];
    for (int i = 0; i < 3; ++i) m.strides[i] = strides[i];
  } else {
    const uint64_t S = static_cast<uint64_t>(id == kMapQ ? p.seq_q : p.seq_k);
    const uint64_t dims[4] = {D, H, S, B}, strides[3] = {D, H * D, S * H * D};
    const uint32_t box[4] = {128, 1, static_cast<uint32_t>(id == kMapQ ? C::kBlockM : C::kBlockN), 1};
    for (int i = 0; i < 4; ++i) m.dims[i] = dims[i], m.box[i] = box[i];
    for (int i = 0; i < 3; ++i) m.strides[i] = strides[i];
  }
  return m;
}

}  // namespace wan::cuda::hopper
