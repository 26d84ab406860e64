// Head dims 40..64: 4 warps, 64 queries x 64 keys per step, 3 stages where they fit.
#include "flash_fwd_launch.cuh"

namespace wan::cuda::fa {

cudaError_t launch_flash_fwd_hdim64(const FlashAttentionParams& p, cudaStream_t stream, int smem_optin) {
  using Deep = FlashFwdTiles<64, 64, 4, 3>;
  if (smem_optin >= Deep::kSmemBytes) return launch_flash_fwd<Deep>(p, stream);
  return launch_flash_fwd<FlashFwdTiles<64, 64, 4, 2>>(p, stream);
}

}  // namespace wan::cuda::fa
