#pragma once
// Elementwise and row-broadcast kernels of the CUDA backend (float32 activations).
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/kernels/act.h"

namespace wan::cuda {

// x[r, i] += y[r, i] * gate[r, i], gate = rows[(row_of[r] * chunks + gate_chunk) * n + i], or
// x += y when rows is null.
struct AddGatedParams {
  float* x = nullptr;
  const float* y = nullptr;
  const float* mod_rows = nullptr;
  const int32_t* row_of_token = nullptr;
  int64_t rows = 0, n = 0;
  int chunks = 0, gate_chunk = 0;
};
void launch_add_gated(const AddGatedParams& p, cudaStream_t s);

// y = act(x + bias[i % n]) over count elements; bias may be null; y may alias x.
struct BiasActParams {
  const float* x = nullptr;
  float* y = nullptr;
  const float* bias = nullptr;
  int64_t count = 0, n = 1;
  Act act = Act::None;
};
void launch_bias_act(const BiasActParams& p, cudaStream_t s);

// out[(r*C + c)*dim + i] = table[c*dim + i] + rows[chunked ? (r*C + c)*dim + i : r*dim + i].
struct ModulationRowsParams {
  const float* table = nullptr;
  const float* rows = nullptr;
  float* out = nullptr;
  int64_t R = 0, C = 0, dim = 0;
  bool chunked = false;
};
void launch_modulation_rows(const ModulationRowsParams& p, cudaStream_t s);

// x[i] += pos[i % period] (x [B, S, E], pos [S, E], period S*E).
struct AddPeriodicParams {
  float* x = nullptr;
  const float* pos = nullptr;
  int64_t count = 0, period = 1;
};
void launch_add_periodic(const AddPeriodicParams& p, cudaStream_t s);

// out = sum_i coeff[i] * term[i], accumulated in double; out may alias a term.
constexpr int kMaxCombineTerms = 8;
struct CombineParams {
  float* out = nullptr;
  const float* term[kMaxCombineTerms] = {};
  float coeff[kMaxCombineTerms] = {};
  int terms = 0;
  int64_t count = 0;
};
void launch_linear_combination(const CombineParams& p, cudaStream_t s);

// w += scale * delta: a LoRA merged into a weight stored as float32 or as bf16 bit patterns
// (rounded to nearest even, as the upload rounds); delta float32.
struct AddToWeightParams {
  void* w = nullptr;
  bool w_bf16 = false;
  const float* delta = nullptr;
  float scale = 1.0f;
  int64_t count = 0;
};
void launch_add_to_weight(const AddToWeightParams& p, cudaStream_t s);

// *sum += sum_i |a[i] - b[i]| (b null: |a[i]|), in double; the caller zeroes *sum. The step
// caches' relative-change test needs only this scalar, not the tensors on the host.
struct AbsDiffSumParams {
  const float* a = nullptr;
  const float* b = nullptr;
  double* sum = nullptr;
  int64_t count = 0;
};
void launch_abs_diff_sum(const AbsDiffSumParams& p, cudaStream_t s);

// x *= y.
struct MultiplyParams {
  float* x = nullptr;
  const float* y = nullptr;
  int64_t count = 0;
};
void launch_multiply(const MultiplyParams& p, cudaStream_t s);

// out[n, :] = table[ids[n], :]; the table is float32 or bf16 (model weights); ids checked by the host.
struct EmbeddingParams {
  const void* table = nullptr;
  bool table_bf16 = false;
  const int32_t* ids = nullptr;
  float* out = nullptr;
  int64_t count = 0, dim = 0;
};
void launch_embedding(const EmbeddingParams& p, cudaStream_t s);

// y[r, :dim/2] = cos(t[r] * f_i), y[r, dim/2:] = sin(...), f_i = exp(-ln(1e4) * i / (dim/2)).
struct TimestepEmbeddingParams {
  const float* t = nullptr;
  float* y = nullptr;
  int64_t R = 0, dim = 0;
};
void launch_timestep_embedding(const TimestepEmbeddingParams& p, cudaStream_t s);

// Rotates adjacent pairs of each head of x [rows = B*S, heads*D] by cos/sin [S, D/2], in place.
struct RopeParams {
  float* x = nullptr;
  const float* cos = nullptr;
  const float* sin = nullptr;
  int64_t rows = 0, S = 0;
  int heads = 1, head_dim = 2;
};
void launch_rope(const RopeParams& p, cudaStream_t s);

// x [B, C, F, H, W] <-> y [B, S, C*pt*ph*pw] ((c, kt, kh, kw) order) for patchify; unpatchify
// reads [B, S, pt*ph*pw*C] ((kt, kh, kw, c) order).
struct PatchParamsDev {
  const float* src = nullptr;
  float* dst = nullptr;
  int64_t B = 0, C = 0, F = 0, H = 0, W = 0;
  int pt = 1, ph = 1, pw = 1;
};
void launch_patchify(const PatchParamsDev& p, cudaStream_t s);
void launch_unpatchify(const PatchParamsDev& p, cudaStream_t s);

// dst[r, c] = bf16(src[r, c]) for c < cols, 0 for cols <= c < dst_ld (the GEMM's K padding).
// src is float32, or bf16 when src_bf16 (a weight repacked to a padded row length).
struct ToBf16Params {
  const void* src = nullptr;
  bool src_bf16 = false;
  uint16_t* dst = nullptr;
  int64_t rows = 0, cols = 0, src_ld = 0, dst_ld = 0;
};
void launch_to_bf16(const ToBf16Params& p, cudaStream_t s);

}  // namespace wan::cuda
