#pragma once
// Row norms over the last dimension, float32 in and out, one warp per row.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/kernels/act.h"

namespace wan::cuda {

enum class NormKind : int {
  Layer = 0,           // (x - mean) * rstd [* gamma + beta]
  LayerModulated = 1,  // (x - mean) * rstd * (1 + scale) + shift, adaLN rows per token
  Rms = 2,             // x * rsqrt(mean(x^2) + eps) * gamma
  ChannelRms = 3,      // act(x / max(|x|_2, 1e-12) * sqrt(n) * gamma)  (the Wan VAE's norm)
};

struct RowNormParams {
  NormKind kind = NormKind::Layer;
  const float* x = nullptr;
  float* y = nullptr;  // may alias x
  int64_t rows = 0, n = 0;
  float eps = 1e-6f;
  const float* gamma = nullptr;  // [n], optional for Layer
  const float* beta = nullptr;   // [n], optional for Layer
  // LayerModulated: shift/scale = mod_rows[(row_of_token[r] * chunks + chunk) * n + i]
  const float* mod_rows = nullptr;
  const int32_t* row_of_token = nullptr;
  int chunks = 0, shift_chunk = 0, scale_chunk = 0;
  Act act = Act::None;  // ChannelRms only
};

void launch_row_norm(const RowNormParams& p, cudaStream_t s);

// The q/k norm and rotary embedding of self-attention in one pass (Backend::rms_norm_rope):
// y[r, :] = rope(x[r, :n] * rsqrt(mean(x[r, :n]^2) + eps) * gamma), rows r of B*S tokens, x's rows
// x_ld apart (a column slice of the stacked Q/K/V product), y's y_ld apart; y may alias x when
// both strides agree. Head h rotates its pairs (2k, 2k + 1) by cos/sin[(r % S) * head_dim/2 + k].
struct RmsNormRopeParams {
  const float* x = nullptr;
  float* y = nullptr;
  int64_t x_ld = 0, y_ld = 0;
  const float* gamma = nullptr;  // [n]
  const float* cos = nullptr;    // [S, head_dim / 2]
  const float* sin = nullptr;
  int64_t rows = 0, S = 1, n = 0;
  int head_dim = 2;
  float eps = 1e-6f;
};

void launch_rms_norm_rope(const RmsNormRopeParams& p, cudaStream_t s);

}  // namespace wan::cuda
