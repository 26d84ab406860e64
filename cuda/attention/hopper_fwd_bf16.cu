// The bf16 configurations of the Hopper attention (hopper_fwd_kernel.cuh). The kernel body exists
// only in the sm_90a image (__CUDA_ARCH_FEAT_SM90_ALL; wgmma.mma_async and setmaxnreg): the root
// CMakeLists.txt looks for those names to build sm_90a instead of sm_90.
//
// Names: d<head dim>-n<keys per tile>-s<stages>[-pp = consumers ping-pong]. The first of each head
// dim is the dispatch's default; the others are for the benchmark's sweep on a device.
#include "hopper_fwd_launch.cuh"

namespace wan::cuda::hopper {

extern const Variant kBf16Variants[] = {
    {"bf16-d128-n128-s2-pp", 128, false, launch_config<FwdConfig<128, 128, 2, false, true>>},
    {"bf16-d128-n128-s2", 128, false, launch_config<FwdConfig<128, 128, 2, false, false>>},
    {"bf16-d128-n128-s3-pp", 128, false, launch_config<FwdConfig<128, 128, 3, false, true>>},
    {"bf16-d128-n176-s2-pp", 128, false, launch_config<FwdConfig<128, 176, 2, false, true>>},
    {"bf16-d64-n128-s3-pp", 64, false, launch_config<FwdConfig<64, 128, 3, false, true>>},
    {"bf16-d64-n128-s3", 64, false, launch_config<FwdConfig<64, 128, 3, false, false>>},
};
extern const int kBf16VariantCount = sizeof(kBf16Variants) / sizeof(kBf16Variants[0]);

bool kernels_built() {
  // Every configuration is compiled for the same targets: the default one answers for all.
  return config_built<FwdConfig<128, 128, 2, false, true>>();
}

}  // namespace wan::cuda::hopper
