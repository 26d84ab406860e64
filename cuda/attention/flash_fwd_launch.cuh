#pragma once
// Launch of one tile configuration, and the per-head-dim entry points that the instance files
// (flash_fwd_hdim*.cu, one per head-dim tile so they compile in parallel) define.
#include <cuda_runtime.h>

#include "flash_attention.h"
#include "flash_fwd_kernel.cuh"

namespace wan::cuda::fa {

template <class T>
cudaError_t launch_flash_fwd(const FlashAttentionParams& p, cudaStream_t stream) {
  auto kernel = flash_fwd_kernel<T>;
  if (T::kSmemBytes > 48 * 1024) {
    cudaError_t err =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSmemBytes);
    if (err != cudaSuccess) return err;
  }
  const dim3 grid((p.seq_q + T::kBlockM - 1) / T::kBlockM, p.heads, p.batch);
  kernel<<<grid, T::kThreads, T::kSmemBytes, stream>>>(p);
  return cudaGetLastError();
}

// `smem_optin` = cudaDevAttrMaxSharedMemoryPerBlockOptin of the current device: the deeper
// pipeline is chosen where it fits (sm_80/sm_90), the shallower one elsewhere (sm_86/sm_89).
cudaError_t launch_flash_fwd_hdim32(const FlashAttentionParams& p, cudaStream_t stream, int smem_optin);
cudaError_t launch_flash_fwd_hdim64(const FlashAttentionParams& p, cudaStream_t stream, int smem_optin);
cudaError_t launch_flash_fwd_hdim128(const FlashAttentionParams& p, cudaStream_t stream, int smem_optin);

}  // namespace wan::cuda::fa
