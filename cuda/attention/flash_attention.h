#pragma once
// The contract between the CUDA backend and the flash-attention kernels (cuda/attention/).
// Plain parameter struct, no CUDA headers: the backend fills it, the dispatch picks a kernel (the
// Hopper wgmma/TMA kernel on sm_90 for head dims 64 and 128, else the portable mma.sync one) and a
// tile configuration per head size and architecture.
#include <cstddef>
#include <cstdint>

namespace wan::cuda {

struct FlashAttentionParams {
  // Row-major [batch, seq, heads * head_dim] bf16 (stored as uint16_t bit patterns); row strides
  // in elements so q/k/v may be column slices of one fused projection.
  const uint16_t* q = nullptr;
  const uint16_t* k = nullptr;
  const uint16_t* v = nullptr;
  int64_t q_row_stride = 0, k_row_stride = 0, v_row_stride = 0;
  // [batch, seq_q, heads * head_dim]: float32 when out_f32 (the backend's activations), else bf16.
  void* out = nullptr;
  int64_t out_row_stride = 0;
  bool out_f32 = true;
  bool accumulate = false;  // out += attention (Wan2.1 I2V image branch)
  int batch = 1, heads = 1, head_dim = 128;
  int seq_q = 0, seq_k = 0;
  float scale = 1.0f;                // softmax(q k^T * scale)
  const int32_t* key_mask = nullptr; // [batch, seq_k], 0 = not attended; null = all keys

  // Kernel choice. false: always the portable kernel, even where the Hopper one applies (A/B
  // checks and benchmarks).
  bool allow_hopper = true;
  // Opt-in e4m3 attention (never the default): q, k and v quantized per block of 128 rows (per
  // batch and head) with a float scale, P in e4m3, f32 accumulation. Served only by the Hopper
  // kernel with head_dim 128; elsewhere the request is ignored and the bf16 kernels run
  // (flash_attention_path says which). Needs `workspace` of flash_attention_workspace_bytes().
  bool fp8 = false;
  void* workspace = nullptr;  // device memory, 256-byte aligned
  size_t workspace_bytes = 0;
};

enum class FlashAttentionPath { kPortable, kHopper, kHopperFp8 };

// The kernel launch_flash_attention would run for `p` on a device of compute capability `sm`
// (kPortable also where flash_attention_unsupported refuses). On sm 90 it asks the CUDA runtime
// whether this binary holds the sm_90a kernels (a plain sm_90 build does not).
FlashAttentionPath flash_attention_path(const FlashAttentionParams& p, int sm);
const char* flash_attention_path_name(FlashAttentionPath path);

// Device bytes `workspace` must hold for `p` on `sm` (0 unless the e4m3 path will run).
size_t flash_attention_workspace_bytes(const FlashAttentionParams& p, int sm);

// Why the kernels cannot serve these parameters on a device of compute capability `sm` (e.g. 90),
// or nullptr when they can. The backend falls back to its simple attention otherwise.
const char* flash_attention_unsupported(const FlashAttentionParams& p, int sm);

// Enqueues the attention on `stream` (a cudaStream_t). Returns a cudaError_t value (0 = success).
int launch_flash_attention(const FlashAttentionParams& p, void* stream);

}  // namespace wan::cuda
