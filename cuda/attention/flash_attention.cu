// The single dispatch point of the attention kernels: parameter checks, then the kernel (the
// Hopper one on sm_90 where it applies, else the portable one) and its tile configuration.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "flash_attention.h"
#include "flash_fwd_launch.cuh"
#include "hopper_fwd.h"

namespace wan::cuda {

namespace {

bool aligned(const void* ptr, uintptr_t bytes) { return reinterpret_cast<uintptr_t>(ptr) % bytes == 0; }

}  // namespace

const char* flash_attention_unsupported(const FlashAttentionParams& p, int sm) {
  if (sm < 80) return "flash attention needs compute capability 8.0 or newer (mma.sync bf16)";
  if (!p.q || !p.k || !p.v || !p.out) return "flash attention: q, k, v and out must be set";
  if (p.head_dim < 8 || p.head_dim > 128 || p.head_dim % 8 != 0)
    return "flash attention: head_dim must be a multiple of 8 in [8, 128]";
  if (p.batch < 0 || p.heads < 0 || p.seq_q < 0 || p.seq_k < 0)
    return "flash attention: batch, heads, seq_q and seq_k must not be negative";
  if (p.batch > 65535 || p.heads > 65535) return "flash attention: batch and heads must be <= 65535";
  if (!(p.scale > 0.f) || !std::isfinite(p.scale))
    return "flash attention: scale must be finite and > 0";
  const int64_t row = static_cast<int64_t>(p.heads) * p.head_dim;
  if (p.q_row_stride < row || p.k_row_stride < row || p.v_row_stride < row || p.out_row_stride < row)
    return "flash attention: every row stride must be >= heads * head_dim";
  // cp.async moves 16-byte chunks: 8 bf16 of every row must start 16-byte aligned
  if (p.q_row_stride % 8 || p.k_row_stride % 8 || p.v_row_stride % 8)
    return "flash attention: q/k/v row strides must be multiples of 8 elements";
  if (!aligned(p.q, 16) || !aligned(p.k, 16) || !aligned(p.v, 16))
    return "flash attention: q, k and v must be 16-byte aligned";
  // the epilogue stores pairs (float2 / bf16x2)
  if (p.out_row_stride % 2 || !aligned(p.out, p.out_f32 ? 8 : 4))
    return "flash attention: out must be pair-aligned with an even row stride";
  return nullptr;
}

FlashAttentionPath flash_attention_path(const FlashAttentionParams& p, int sm) {
  // sm 90 exactly: sm_90a code runs on compute capability 9.0 only (wgmma is not on later chips)
  if (!p.allow_hopper || sm != 90 || flash_attention_unsupported(p, sm) || hopper::unsupported(p))
    return FlashAttentionPath::kPortable;
  if (!hopper::kernels_built() || !hopper::tma_available()) return FlashAttentionPath::kPortable;
  return p.fp8 && !hopper::fp8_unsupported(p) ? FlashAttentionPath::kHopperFp8 : FlashAttentionPath::kHopper;
}

const char* flash_attention_path_name(FlashAttentionPath path) {
  switch (path) {
    case FlashAttentionPath::kHopper: return "hopper-bf16";
    case FlashAttentionPath::kHopperFp8: return "hopper-e4m3";
    default: return "portable-bf16";
  }
}

size_t flash_attention_workspace_bytes(const FlashAttentionParams& p, int sm) {
  return flash_attention_path(p, sm) == FlashAttentionPath::kHopperFp8 ? hopper::fp8_workspace_bytes(p) : 0;
}

int launch_flash_attention(const FlashAttentionParams& p, void* stream_ptr) {
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  if (p.batch == 0 || p.heads == 0 || p.seq_q == 0) return cudaSuccess;
  int dev = 0, major = 0, minor = 0, smem_optin = 0;
  cudaError_t err = cudaGetDevice(&dev);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
  if (err != cudaSuccess) return err;
  const int sm = major * 10 + minor;
  if (flash_attention_unsupported(p, sm)) return cudaErrorInvalidValue;
  const FlashAttentionPath path = flash_attention_path(p, sm);
  if (path == FlashAttentionPath::kHopperFp8 &&
      (p.workspace == nullptr || p.workspace_bytes < hopper::fp8_workspace_bytes(p) ||
       reinterpret_cast<uintptr_t>(p.workspace) % 256 != 0))
    return cudaErrorInvalidValue;  // the caller asked for e4m3 without the workspace it needs
  if (path != FlashAttentionPath::kPortable) {
    FlashAttentionParams h = p;
    h.fp8 = path == FlashAttentionPath::kHopperFp8;
    return hopper::launch(h, stream);
  }
  if (p.head_dim <= 32) return fa::launch_flash_fwd_hdim32(p, stream, smem_optin);
  if (p.head_dim <= 64) return fa::launch_flash_fwd_hdim64(p, stream, smem_optin);
  return fa::launch_flash_fwd_hdim128(p, stream, smem_optin);
}

}  // namespace wan::cuda
