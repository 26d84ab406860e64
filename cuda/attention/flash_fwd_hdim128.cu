// Head dims 72..128 (Wan's 128): 8 warps, 128 queries x 64 keys per step. Two stages are 96 KiB
// (fits sm_86/sm_89's 99 KiB); three stages (128 KiB) where the device allows (sm_80, sm_90).
#include "flash_fwd_launch.cuh"

namespace wan::cuda::fa {

cudaError_t launch_flash_fwd_hdim128(const FlashAttentionParams& p, cudaStream_t stream, int smem_optin) {
  using Deep = FlashFwdTiles<128, 64, 8, 3>;
  if (smem_optin >= Deep::kSmemBytes) return launch_flash_fwd<Deep>(p, stream);
  return launch_flash_fwd<FlashFwdTiles<128, 64, 8, 2>>(p, stream);
}

}  // namespace wan::cuda::fa
