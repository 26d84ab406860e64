#pragma once
// Branch-free float math the compiler can vectorise: softmax and GELU run over hundreds of millions
// of elements per forward, and libm's scalar expf/tanhf would cost more than the matrix products.
#include <cmath>
#include <cstdint>
#include <cstring>

// Hot loops get AVX2/AVX-512 clones picked at load time, so one binary runs on any x86_64.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define WAN_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define WAN_SIMD_CLONES
#endif

namespace wan::cpu {

// e^x with relative error about 2e-7 over the float range; underflows to ~1e-38 below -87.
inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  // Cody-Waite: ln2 split in two so that r = x - n*ln2 stays exact to float precision.
  float r = x - n * 0.693145751953125f;
  r = r - n * 1.428606765330187045e-06f;
  // Taylor to degree 7 on |r| <= ln2/2: truncation error below 1e-8.
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

inline float fast_tanh(float x) {
  // tanh(x) = 1 - 2 / (e^{2x} + 1): exact limits at +-inf, absolute error ~1e-7 near 0.
  return 1.0f - 2.0f / (fast_exp(2.0f * x) + 1.0f);
}

inline float gelu_tanh(float x) {
  const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.0f + fast_tanh(u));
}

inline float silu(float x) { return x / (1.0f + fast_exp(-x)); }

}  // namespace wan::cpu
