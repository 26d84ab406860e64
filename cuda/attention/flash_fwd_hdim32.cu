// Head dims 8..32 (the fixture models' 24): 4 warps, 64 queries x 64 keys per step.
#include "flash_fwd_launch.cuh"

namespace wan::cuda::fa {

cudaError_t launch_flash_fwd_hdim32(const FlashAttentionParams& p, cudaStream_t stream, int) {
  return launch_flash_fwd<FlashFwdTiles<32, 64, 4, 2>>(p, stream);
}

}  // namespace wan::cuda::fa
