#pragma once
// Tile configuration and shared-memory layout of the portable (mma.sync) attention forward.
//
// Shared memory holds rows of `kHeadDimPad` bf16 as 16-byte chunks. ldmatrix reads 8 rows at the
// same logical chunk; without a swizzle those 8 addresses fall in the same banks whenever a row is
// a multiple of 128 bytes. XOR-ing the chunk index with a few row bits spreads each 8-row group
// over all 32 banks (for rows narrower than 128 bytes the row bits used are the ones above the
// rows that already share a 128-byte line).
#include <cstdint>

namespace wan::cuda::fa {

template <int kHeadDimPad_, int kBlockN_, int kWarps_, int kStages_>
struct FlashFwdTiles {
  static constexpr int kHeadDimPad = kHeadDimPad_;  // head_dim rounded up to 32/64/128
  static constexpr int kWarps = kWarps_;
  static constexpr int kBlockM = 16 * kWarps_;  // one m16 row block per warp, Q kept in registers
  static constexpr int kBlockN = kBlockN_;      // keys per pipeline stage
  static constexpr int kStages = kStages_;      // K/V tiles in flight (cp.async multi-stage)
  static constexpr int kThreads = 32 * kWarps_;
  static constexpr int kChunks = kHeadDimPad / 8;  // 16-byte chunks per row

  static_assert(kHeadDimPad % 32 == 0 && kHeadDimPad <= 128, "head dim tiles are 32, 64 or 128");
  static_assert(kBlockN % 16 == 0, "keys per tile must be a multiple of the mma k (16)");
  static_assert(kStages >= 2, "at least double buffering");

  static constexpr int kQBytes = kBlockM * kHeadDimPad * 2;
  static constexpr int kKVTileBytes = kBlockN * kHeadDimPad * 2;  // one of K or V
  static constexpr int kStageBytes = 2 * kKVTileBytes;
  static constexpr int kSmemBytes = kQBytes + kStages * kStageBytes;

  // Byte offset of (row, 16-byte chunk) in a tile.
  __device__ __forceinline__ static uint32_t offset(int row, int chunk) {
    int phys;
    if constexpr (kChunks >= 8) {
      phys = chunk ^ (row & 7);
    } else {
      phys = chunk ^ ((row / (8 / kChunks)) & (kChunks - 1));
    }
    return static_cast<uint32_t>((row * kChunks + phys) * 16);
  }
};

}  // namespace wan::cuda::fa
