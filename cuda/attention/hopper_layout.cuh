#pragma once
// Index math of the Hopper attention kernel (hopper_fwd_kernel.cuh), written once and compiled both
// for the device and for the host: tests/hopper_emulation_test.cpp runs these exact functions on the
// CPU, against a model of what the hardware does with them (TMA's 128-byte swizzle, the wgmma
// matrix descriptors, the register fragment layouts of the PTX ISA), since no GPU is at hand.
//
// Shared-memory tiles are "panels" of rows of 128 bytes (64 bf16 or 128 e4m3 elements) in the
// 128-byte swizzle: within each 1024-byte group of 8 rows, 16-byte chunk c of row r is stored at
// chunk c ^ (r % 8). TMA writes that layout (CU_TENSOR_MAP_SWIZZLE_128B) and the wgmma descriptors
// (swizzle mode 1) read it; both apply the XOR to address bits, so every panel starts 1024-aligned.
// A tile whose rows are longer than 128 bytes (bf16 head 128: 256 bytes) is several panels of
// [rows][128 B] side by side, one TMA box each.
#include <cstdint>

#if defined(__CUDACC__)
#define WAN_HD __host__ __device__ __forceinline__
#else
#define WAN_HD inline
#endif

namespace wan::cuda::hopper {

constexpr uint32_t kPanelRowBytes = 128;  // one swizzled row
constexpr uint32_t kSwizzleAtom = 1024;   // 8 rows: the period of the XOR pattern
constexpr int kWarpgroupRows = 64;        // wgmma m64: each consumer warpgroup owns 64 query rows

// Byte offset of logical byte `b` (< 128) of row `r` in a panel that starts 1024-aligned.
WAN_HD uint32_t sw128(uint32_t r, uint32_t b) {
  return r * kPanelRowBytes + ((((b >> 4) ^ r) & 7u) << 4) + (b & 15u);
}

// ---- wgmma shared-memory matrix descriptors (PTX ISA "Matrix Descriptor Format"):
// bits 0-13 start address >> 4, 16-29 leading-dimension byte offset >> 4, 32-45 stride-dimension
// byte offset >> 4, 49-51 base offset (0: every swizzle atom is 1024-aligned), 62-63 swizzle mode
// (1 = 128-byte swizzle).
WAN_HD uint64_t make_desc_sw128(uint32_t smem_addr, uint32_t lbo_bytes, uint32_t sbo_bytes) {
  return static_cast<uint64_t>((smem_addr & 0x3FFFFu) >> 4) |
         (static_cast<uint64_t>((lbo_bytes & 0x3FFFFu) >> 4) << 16) |
         (static_cast<uint64_t>((sbo_bytes & 0x3FFFFu) >> 4) << 32) | (uint64_t{1} << 62);
}

// K-major operand (rows = M or N, the reduction dimension K contiguous): one wgmma reads 32 bytes
// of K (16 bf16 or 32 e4m3) from every row; the rows advance by 128 B within an 8-row atom and by
// SBO = 1024 B between atoms; LBO is unused in this swizzle mode. K step `t` starts 32·t bytes into
// the row, in panel t / 4.
constexpr uint32_t kKMajorSbo = kSwizzleAtom;
WAN_HD uint32_t kmajor_step_offset(int t, uint32_t panel_bytes) {
  return static_cast<uint32_t>(t % 4) * 32u + static_cast<uint32_t>(t / 4) * panel_bytes;
}

// MN-major operand (bf16 V as B of P·V: rows are keys = K, the 64 elements of a row are N): the
// atom is 8 K-rows of 64 N-elements; SBO = 1024 B steps 8 K-rows, LBO steps the next 64 N-columns
// (the next panel). K step `t` (16 keys) starts 16 rows = 2048 B further.
constexpr uint32_t kMnMajorSbo = kSwizzleAtom;
WAN_HD uint32_t mnmajor_step_offset(int t) { return static_cast<uint32_t>(t) * 16u * kPanelRowBytes; }

// ---- Register fragments (PTX ISA, wgmma .m64nNk16 / .m64nNk32), lane = thread % 32 and
// warp = warp index within the warpgroup (0..3).
// Accumulator (f32), N/2 registers: register i holds row 16·warp + lane/4 + 8·((i/2)%2) and column
// 8·(i/4) + 2·(lane%4) + i%2.
WAN_HD int acc_row(int warp, int lane, int i) { return 16 * warp + (lane >> 2) + 8 * ((i >> 1) & 1); }
WAN_HD int acc_col(int lane, int i) { return 8 * (i >> 2) + 2 * (lane & 3) + (i & 1); }

// A from registers, bf16 (k16): 4 registers of 2 elements; register u, element e (low half first):
// row 16·warp + lane/4 + 8·(u%2), column 8·(u/2) + 2·(lane%4) + e.
WAN_HD int afrag_bf16_row(int warp, int lane, int u) { return 16 * warp + (lane >> 2) + 8 * (u & 1); }
WAN_HD int afrag_bf16_col(int lane, int u, int e) { return 8 * (u >> 1) + 2 * (lane & 3) + e; }
// A from registers, e4m3 (k32): 4 registers of 4 elements (lowest byte first); register u, byte e:
// row 16·warp + lane/4 + 8·(u%2), column 16·(u/2) + 4·(lane%4) + e.
WAN_HD int afrag_e4m3_row(int warp, int lane, int u) { return 16 * warp + (lane >> 2) + 8 * (u & 1); }
WAN_HD int afrag_e4m3_col(int lane, int u, int e) { return 16 * (u >> 1) + 4 * (lane & 3) + e; }

// ---- P (the exponentiated S accumulator) as the A operand of P·V, without a shared-memory trip.
// bf16: the accumulator registers 8t..8t+7 of S (keys 16t..16t+15) are exactly A register pairs
// of k step t: packed register 4t+u = (s[8t+2u], s[8t+2u+1]).
// e4m3: a k32 step spans accumulator chunks 4t..4t+3, but a thread's accumulator holds columns
// {2c, 2c+1} of each chunk while the e4m3 A fragment wants 4 consecutive columns {4c..4c+3}.
// Rather than shuffling registers across the quad, the kernel packs each thread's own values
// (chunk 4t+2h and 4t+2h+1 of one row into one register) and stores V^T with its keys permuted
// to match: logical k column kk of step t multiplies key 32t + key_of_kk(kk).
WAN_HD int e4m3_p_source(int t, int u, int e) {  // accumulator register feeding byte e of register u
  // u: 0 row g chunks (4t, 4t+1); 1 row g+8 chunks (4t, 4t+1); 2, 3: chunks (4t+2, 4t+3)
  return 16 * t + 8 * (u >> 1) + 4 * (e >> 1) + 2 * (u & 1) + (e & 1);
}
WAN_HD int key_of_kk(int kk) {  // kk in [0, 32): the key (within the 32-key step) at logical column kk
  const int half = kk >> 4, w = kk & 15, c = w >> 2, e = w & 3;
  return 16 * half + 8 * (e >> 1) + 2 * c + (e & 1);
}

// ---- fp8 workspace layout (written by the quantize kernel, read through TMA by the attention).
// q8, k8: [batch, seq, heads, head_dim] e4m3 (rows heads·head_dim bytes, like the bf16 input).
// vt8: [batch, heads, head_dim, seq_k_pad] e4m3, seq_k_pad = seq_k rounded up to kFp8BlockRows
// (zeros beyond seq_k), keys permuted by key_of_kk within every 32. Scales: one float per
// (batch, head, block of kFp8BlockRows rows): x ≈ x8 · scale.
constexpr int kFp8BlockRows = 128;
constexpr float kE4m3Max = 448.f;
WAN_HD int64_t vt8_offset(int64_t b, int64_t h, int64_t d, int64_t kk_global, int heads, int head_dim,
                          int64_t seq_k_pad) {
  return ((b * heads + h) * head_dim + d) * seq_k_pad + kk_global;
}
// The key stored at logical position kk_global of a V^T row.
WAN_HD int64_t vt8_key(int64_t kk_global) { return (kk_global & ~int64_t{31}) + key_of_kk(static_cast<int>(kk_global & 31)); }

}  // namespace wan::cuda::hopper
