#pragma once
// Host interface of the Hopper attention path, used by the dispatch (flash_attention.cu), the
// parity test and the benchmark. No CUDA device code here.
#include <cuda_runtime.h>

#include <cstddef>

#include "flash_attention.h"

namespace wan::cuda::hopper {

// Why the Hopper kernels cannot serve parameters that flash_attention_unsupported() accepted
// (head_dim not 64/128, no keys, ...), or nullptr. Pure: no device query.
const char* unsupported(const FlashAttentionParams& p);
// The e4m3 variant additionally needs head_dim 128.
const char* fp8_unsupported(const FlashAttentionParams& p);

// Whether this binary holds the sm_90a kernels (a build for plain sm_90 compiles them to stubs):
// asks the runtime about the current device's image of the kernel, once.
bool kernels_built();
// Whether the driver gives cuTensorMapEncodeTiled (the kernels' TMA descriptors); without it the
// portable kernel serves, rather than a launch that can only fail.
bool tma_available();

// Device bytes the e4m3 path needs in FlashAttentionParams::workspace (quantized q, k, v^T and
// their per-block scales).
size_t fp8_workspace_bytes(const FlashAttentionParams& p);

// One compiled configuration of the kernel, for the benchmark's sweep and the parity test.
struct Variant {
  const char* name;  // e.g. "bf16-d128-n128-s2-pp"
  int head_dim;
  bool fp8;
  cudaError_t (*launch)(const FlashAttentionParams& p, cudaStream_t stream);
};
// Every configuration built into this binary; `count` receives their number.
const Variant* variants(int* count);
// The configuration the dispatch uses for (head_dim, fp8), or nullptr.
const Variant* default_variant(int head_dim, bool fp8);

// Enqueues the attention with the default configuration (the e4m3 path when p.fp8: the quantize
// kernel, then the attention). The caller checked unsupported() and kernels_built().
cudaError_t launch(const FlashAttentionParams& p, cudaStream_t stream);

}  // namespace wan::cuda::hopper
