#pragma once
// The contract between the CUDA backend and the flash-attention kernels (cuda/attention/).
// Plain parameter struct, no CUDA headers: the backend fills it, the kernel family picks a tile
// configuration per head size and architecture.
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
};

// Why the kernels cannot serve these parameters on a device of compute capability `sm` (e.g. 90),
// or nullptr when they can. The backend falls back to its simple attention otherwise.
const char* flash_attention_unsupported(const FlashAttentionParams& p, int sm);

// Enqueues the attention on `stream` (a cudaStream_t). Returns a cudaError_t value (0 = success).
int launch_flash_attention(const FlashAttentionParams& p, void* stream);

}  // namespace wan::cuda
