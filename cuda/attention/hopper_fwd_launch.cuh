#pragma once
// Host side of one Hopper kernel configuration: tensor maps (TMA descriptors, encoded on the host
// through the driver entry point the runtime hands out, so nothing links libcuda), the check that
// the sm_90a image is in the binary, and the launch. Included by the instance files
// (hopper_fwd_bf16.cu, hopper_fwd_fp8.cu).
#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "flash_attention.h"
#include "hopper_fwd.h"
#include "hopper_fwd_kernel.cuh"

namespace wan::cuda::hopper {

// cuTensorMapEncodeTiled for a 4-D tensor, 128-byte swizzle, out-of-bounds elements read as zero.
// dims innermost first; strides (bytes) of dims 1..3. False when the driver refuses.
bool encode_map(CUtensorMap* map, CUtensorMapDataType type, const void* base, const uint64_t (&dims)[4],
                const uint64_t (&strides)[3], const uint32_t (&box)[4]);

// Where the e4m3 path keeps its quantized tensors inside FlashAttentionParams::workspace.
struct Fp8Workspace {
  uint8_t* q8 = nullptr;   // [batch, seq_q, heads, 128]
  uint8_t* k8 = nullptr;   // [batch, seq_k, heads, 128]
  uint8_t* vt8 = nullptr;  // [batch, heads, 128, seq_k_pad], keys permuted (hopper_layout.cuh)
  float* q_scale = nullptr;
  float* k_scale = nullptr;
  float* v_scale = nullptr;
  int64_t seq_k_pad = 0;
  int n_q_blocks = 0, n_k_blocks = 0;
  size_t bytes = 0;  // total, the layout computed with base = nullptr gives the size
};
Fp8Workspace fp8_workspace_layout(const FlashAttentionParams& p, void* base);
// Quantizes p.q, p.k, p.v into the workspace (hopper_fwd_fp8.cu).
cudaError_t launch_fp8_quantize(const FlashAttentionParams& p, const Fp8Workspace& w, cudaStream_t stream);

// Whether the image of this configuration's kernel for the current device is the real one (the
// stub built for other targets declares static shared memory, the real kernel none).
template <class C>
bool config_built() {
  static const bool built = [] {
    cudaFuncAttributes attr{};
    if (cudaFuncGetAttributes(&attr, hopper_fwd_kernel<C>) != cudaSuccess) {
      (void)cudaGetLastError();
      return false;
    }
    return attr.sharedSizeBytes == 0;
  }();
  return built;
}

template <class C>
cudaError_t launch_kernel(const FwdArgs& a, const FlashAttentionParams& p, cudaStream_t stream) {
  auto kernel = hopper_fwd_kernel<C>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kSmemBytes);
  if (err != cudaSuccess) return err;
  const dim3 grid((p.seq_q + C::kBlockM - 1) / C::kBlockM, p.heads, p.batch);
  kernel<<<grid, C::kThreads, C::kSmemBytes, stream>>>(a);
  return cudaGetLastError();
}

template <class C>
FwdArgs common_args(const FlashAttentionParams& p) {
  FwdArgs a{};
  a.out = p.out;
  a.out_row_stride = p.out_row_stride;
  a.key_mask = p.key_mask;
  a.seq_q = p.seq_q;
  a.seq_k = p.seq_k;
  a.heads = p.heads;
  a.head_dim = p.head_dim;
  a.n_q_blocks = (p.seq_q + C::kBlockM - 1) / C::kBlockM;
  a.n_k_blocks = (p.seq_k + C::kBlockN - 1) / C::kBlockN;
  a.scale_log2 = p.scale * 1.4426950408889634f;
  a.out_f32 = p.out_f32 ? 1 : 0;
  a.accumulate = p.accumulate ? 1 : 0;
  return a;
}

// bf16 q/k/v straight from the caller's rows: a 4-D view {head_dim, heads, seq, batch} per tensor
// (its bounds zero-fill rows past seq within each batch), boxes of 64 elements (one 128-byte
// panel) by `rows`.
template <class C>
cudaError_t launch_config(const FlashAttentionParams& p, cudaStream_t stream) {
  static_assert(!C::kFp8, "e4m3 configurations launch through launch_config_fp8");
  if (p.head_dim != C::kHeadDim || p.seq_k < 1) return cudaErrorInvalidValue;
  if (!config_built<C>()) return cudaErrorInvalidDeviceFunction;
  FwdArgs a = common_args<C>(p);
  auto map = [&](CUtensorMap* m, const uint16_t* ptr, int64_t row_stride, int seq, int rows) {
    const uint64_t dims[4] = {static_cast<uint64_t>(C::kHeadDim), static_cast<uint64_t>(p.heads),
                              static_cast<uint64_t>(seq), static_cast<uint64_t>(p.batch)};
    const uint64_t strides[3] = {C::kHeadDim * 2ull, static_cast<uint64_t>(row_stride) * 2,
                                 static_cast<uint64_t>(seq) * static_cast<uint64_t>(row_stride) * 2};
    const uint32_t box[4] = {64, 1, static_cast<uint32_t>(rows), 1};
    return encode_map(m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, ptr, dims, strides, box);
  };
  if (!map(&a.tm_q, p.q, p.q_row_stride, p.seq_q, C::kBlockM) ||
      !map(&a.tm_k, p.k, p.k_row_stride, p.seq_k, C::kBlockN) ||
      !map(&a.tm_v, p.v, p.v_row_stride, p.seq_k, C::kBlockN))
    return cudaErrorInvalidValue;
  return launch_kernel<C>(a, p, stream);
}

// e4m3: quantize into the workspace, then the attention over it.
template <class C>
cudaError_t launch_config_fp8(const FlashAttentionParams& p, cudaStream_t stream) {
  static_assert(C::kFp8, "bf16 configurations launch through launch_config");
  if (p.head_dim != C::kHeadDim || p.seq_k < 1) return cudaErrorInvalidValue;
  if (!config_built<C>()) return cudaErrorInvalidDeviceFunction;
  const Fp8Workspace w = fp8_workspace_layout(p, p.workspace);
  if (p.workspace == nullptr || p.workspace_bytes < w.bytes) return cudaErrorInvalidValue;
  cudaError_t err = launch_fp8_quantize(p, w, stream);
  if (err != cudaSuccess) return err;
  FwdArgs a = common_args<C>(p);
  const uint64_t D = C::kHeadDim, H = static_cast<uint64_t>(p.heads), B = static_cast<uint64_t>(p.batch);
  const uint64_t Sq = static_cast<uint64_t>(p.seq_q), Sk = static_cast<uint64_t>(p.seq_k);
  const uint64_t Skp = static_cast<uint64_t>(w.seq_k_pad);
  const uint64_t q_dims[4] = {D, H, Sq, B}, q_strides[3] = {D, H * D, Sq * H * D};
  const uint64_t k_dims[4] = {D, H, Sk, B}, k_strides[3] = {D, H * D, Sk * H * D};
  const uint64_t v_dims[4] = {Skp, D, H, B}, v_strides[3] = {Skp, D * Skp, H * D * Skp};
  const uint32_t q_box[4] = {128, 1, C::kBlockM, 1}, k_box[4] = {128, 1, C::kBlockN, 1};
  const uint32_t v_box[4] = {C::kBlockN, C::kHeadDim, 1, 1};
  if (!encode_map(&a.tm_q, CU_TENSOR_MAP_DATA_TYPE_UINT8, w.q8, q_dims, q_strides, q_box) ||
      !encode_map(&a.tm_k, CU_TENSOR_MAP_DATA_TYPE_UINT8, w.k8, k_dims, k_strides, k_box) ||
      !encode_map(&a.tm_v, CU_TENSOR_MAP_DATA_TYPE_UINT8, w.vt8, v_dims, v_strides, v_box))
    return cudaErrorInvalidValue;
  a.q_scale = w.q_scale;
  a.k_scale = w.k_scale;
  a.v_scale = w.v_scale;
  return launch_kernel<C>(a, p, stream);
}

}  // namespace wan::cuda::hopper
