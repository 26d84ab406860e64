// Host side of the Hopper attention path: which parameters it serves, the configurations built
// into this binary, the e4m3 workspace, tensor-map encoding.
#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>
#include <vector>

#include "hopper_fwd.h"
#include "hopper_fwd_launch.cuh"

namespace wan::cuda::hopper {

extern const Variant kBf16Variants[];
extern const int kBf16VariantCount;
extern const Variant kFp8Variants[];
extern const int kFp8VariantCount;

namespace {

// cuTensorMapEncodeTiled's signature (CUDA 12.0+), fetched through the runtime so that nothing
// links libcuda.
using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                   const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                   CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

EncodeTiledFn encode_tiled() {
  static const EncodeTiledFn fn = [] {
    void* sym = nullptr;
    cudaDriverEntryPointQueryResult status{};
#if CUDART_VERSION >= 12050
    cudaError_t err = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &sym, 12000, cudaEnableDefault, &status);
#else
    cudaError_t err = cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &sym, cudaEnableDefault, &status);
#endif
    if (err != cudaSuccess || status != cudaDriverEntryPointSuccess) {
      (void)cudaGetLastError();
      return static_cast<EncodeTiledFn>(nullptr);
    }
    return reinterpret_cast<EncodeTiledFn>(sym);
  }();
  return fn;
}

size_t align256(size_t x) { return (x + 255) & ~size_t{255}; }

}  // namespace

bool tma_available() { return encode_tiled() != nullptr; }

bool encode_map(CUtensorMap* map, CUtensorMapDataType type, const void* base, const uint64_t (&dims)[4],
                const uint64_t (&strides)[3], const uint32_t (&box)[4]) {
  const EncodeTiledFn fn = encode_tiled();
  if (!fn) return false;
  const cuuint32_t elem_strides[4] = {1, 1, 1, 1};
  const CUresult r = fn(map, type, 4, const_cast<void*>(base), dims, strides, box, elem_strides,
                        CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS;
}

const char* unsupported(const FlashAttentionParams& p) {
  if (p.head_dim != 64 && p.head_dim != 128) return "hopper attention: head_dim must be 64 or 128";
  if (p.seq_k < 1) return "hopper attention: no keys (the portable kernel writes the zero rows)";
  // TMA: global addresses 16-byte aligned and strides multiples of 16 bytes (row strides are
  // multiples of 8 elements: flash_attention_unsupported checked both)
  return nullptr;
}

const char* fp8_unsupported(const FlashAttentionParams& p) {
  if (const char* why = unsupported(p)) return why;
  if (p.head_dim != 128) return "e4m3 attention: head_dim must be 128";
  return nullptr;
}

Fp8Workspace fp8_workspace_layout(const FlashAttentionParams& p, void* base) {
  Fp8Workspace w;
  const int64_t B = p.batch, H = p.heads, D = 128, rows = kFp8BlockRows;
  w.n_q_blocks = static_cast<int>((p.seq_q + rows - 1) / rows);
  w.n_k_blocks = static_cast<int>((p.seq_k + rows - 1) / rows);
  w.seq_k_pad = static_cast<int64_t>(w.n_k_blocks) * rows;
  uint8_t* at = static_cast<uint8_t*>(base);
  size_t off = 0;
  auto take = [&](size_t bytes) {
    uint8_t* ptr = at ? at + off : nullptr;
    off = align256(off + bytes);
    return ptr;
  };
  w.q8 = take(static_cast<size_t>(B * p.seq_q * H * D));
  w.k8 = take(static_cast<size_t>(B * p.seq_k * H * D));
  w.vt8 = take(static_cast<size_t>(B * H * D * w.seq_k_pad));
  w.q_scale = reinterpret_cast<float*>(take(sizeof(float) * static_cast<size_t>(B * H * w.n_q_blocks)));
  w.k_scale = reinterpret_cast<float*>(take(sizeof(float) * static_cast<size_t>(B * H * w.n_k_blocks)));
  w.v_scale = reinterpret_cast<float*>(take(sizeof(float) * static_cast<size_t>(B * H * w.n_k_blocks)));
  w.bytes = off;
  return w;
}

size_t fp8_workspace_bytes(const FlashAttentionParams& p) {
  return fp8_unsupported(p) ? 0 : fp8_workspace_layout(p, nullptr).bytes;
}

const Variant* variants(int* count) {
  static std::vector<Variant> all;
  static std::once_flag once;
  std::call_once(once, [] {
    all.assign(kBf16Variants, kBf16Variants + kBf16VariantCount);
    all.insert(all.end(), kFp8Variants, kFp8Variants + kFp8VariantCount);
  });
  if (count) *count = static_cast<int>(all.size());
  return all.data();
}

const Variant* default_variant(int head_dim, bool fp8) {
  int n = 0;
  const Variant* v = variants(&n);
  for (int i = 0; i < n; ++i)
    if (v[i].head_dim == head_dim && v[i].fp8 == fp8) return &v[i];
  return nullptr;
}

cudaError_t launch(const FlashAttentionParams& p, cudaStream_t stream) {
  const Variant* v = default_variant(p.head_dim, p.fp8);
  if (!v) return cudaErrorInvalidValue;
  return v->launch(p, stream);
}

}  // namespace wan::cuda::hopper
