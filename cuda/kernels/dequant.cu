// One thread decodes 32 consecutive elements of a row: a 32-element block, a 32-element sub-block
// of a 256-element K-quant super-block, or 32 scalars. Each layout follows ggml-common.h and each
// formula ggml's dequantize_row_* (see cpp/core/gguf_blocks.cpp, the CPU twin).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/kernels/dequant.h"
#include "cuda/kernels/device_math.cuh"

namespace wan::cuda {

namespace {

constexpr int kThreads = 128;

__device__ __forceinline__ uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// IEEE half bits to float, exactly (subnormal halves included: __half2float converts them exactly).
__device__ __forceinline__ float half_at(const uint8_t* p) { return __half2float(__ushort_as_half(u16(p))); }

__device__ __forceinline__ float f8e4m3(uint8_t v) {
  const int exp = (v >> 3) & 0xf, mant = v & 0x7;
  float f;
  if (exp == 0xf && mant == 0x7) f = __int_as_float(0x7fc00000);
  else if (exp == 0) f = ldexpf(static_cast<float>(mant), -9);
  else f = ldexpf(1.0f + mant / 8.0f, exp - 7);
  return (v & 0x80) ? -f : f;
}

// The 6-bit scale and min of sub-block j of a q4_K / q5_K super-block.
__device__ __forceinline__ void scale_min_k4(int j, const uint8_t* q, int* d, int* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Decodes 32 elements: segment `seg` (0-based, 32 elements each) of a row starting at `row`.
__device__ void decode32(WeightFormat f, const uint8_t* row, int64_t seg, float y[32]) {
  switch (f) {
    case WeightFormat::Q8_0: {
      const uint8_t* b = row + seg * 34;
      const float d = half_at(b);
      for (int j = 0; j < 32; ++j) y[j] = static_cast<int8_t>(b[2 + j]) * d;
      return;
    }
    case WeightFormat::Q4_0: {
      const uint8_t* b = row + seg * 18;
      const float d = half_at(b);
      for (int j = 0; j < 16; ++j) {
        y[j] = ((b[2 + j] & 0x0F) - 8) * d;
        y[j + 16] = ((b[2 + j] >> 4) - 8) * d;
      }
      return;
    }
    case WeightFormat::Q4_1: {
      const uint8_t* b = row + seg * 20;
      const float d = half_at(b), m = half_at(b + 2);
      for (int j = 0; j < 16; ++j) {
        y[j] = (b[4 + j] & 0x0F) * d + m;
        y[j + 16] = (b[4 + j] >> 4) * d + m;
      }
      return;
    }
    case WeightFormat::Q5_0:
    case WeightFormat::Q5_1: {
      const bool one = f == WeightFormat::Q5_1;
      const uint8_t* b = row + seg * (one ? 24 : 22);
      const float d = half_at(b), m = one ? half_at(b + 2) : 0.0f;
      const uint8_t* h = b + (one ? 4 : 2);
      const uint32_t qh = h[0] | (h[1] << 8) | (h[2] << 16) | (static_cast<uint32_t>(h[3]) << 24);
      const uint8_t* qs = h + 4;
      for (int j = 0; j < 16; ++j) {
        const int x0 = (qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10);
        const int x1 = (qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
        if (one) {
          y[j] = x0 * d + m;
          y[j + 16] = x1 * d + m;
        } else {
          y[j] = (x0 - 16) * d;
          y[j + 16] = (x1 - 16) * d;
        }
      }
      return;
    }
    default: break;
  }
  // K-quants: super-block seg / 8, sub-block s = seg % 8 of it.
  const int s = static_cast<int>(seg % 8);
  const int64_t sb = seg / 8;
  const int h = s / 4, j = s % 4;  // half of the super-block (128 elements), quarter in it
  switch (f) {
    case WeightFormat::Q2_K: {
      const uint8_t* b = row + sb * 84;
      const uint8_t* q = b + 16 + h * 32;
      const float d = half_at(b + 80), min = half_at(b + 82);
      for (int l = 0; l < 32; ++l) {
        const uint8_t sc = b[2 * s + (l >= 16)];
        const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
        y[l] = dl * static_cast<int8_t>((q[l] >> (2 * j)) & 3) - ml;
      }
      return;
    }
    case WeightFormat::Q3_K: {
      const uint8_t* b = row + sb * 110;
      const uint8_t* hm = b;
      const uint8_t* q = b + 32 + h * 32;
      const float d_all = half_at(b + 108);
      const uint8_t* sc = b + 96;
      // 16 6-bit scales: low 4 bits in sc[0..7] (nibbles), high 2 bits in sc[8..11].
      const uint8_t m = static_cast<uint8_t>(1u << s);
      for (int l = 0; l < 32; ++l) {
        const int is = 2 * s + (l >= 16);
        const int low = is < 8 ? (sc[is] & 0xF) : (sc[is - 8] >> 4);
        const int high = (sc[8 + (is % 4)] >> (2 * (is / 4))) & 3;
        const float dl = d_all * ((low | (high << 4)) - 32);
        y[l] = dl * (static_cast<int8_t>((q[l] >> (2 * j)) & 3) - ((hm[l] & m) ? 0 : 4));
      }
      return;
    }
    case WeightFormat::Q4_K:
    case WeightFormat::Q5_K: {
      const bool five = f == WeightFormat::Q5_K;
      const uint8_t* b = row + sb * (five ? 176 : 144);
      const float d = half_at(b), min = half_at(b + 2);
      int sc, mn;
      scale_min_k4(s, b + 4, &sc, &mn);
      const float d1 = d * sc, m1 = min * mn;
      const uint8_t* ql = b + (five ? 48 : 16) + 32 * (s / 2);
      const uint8_t* qh = b + 16;
      const int shift = (s % 2) * 4;
      for (int l = 0; l < 32; ++l) {
        int q = (ql[l] >> shift) & 0xF;
        if (five && (qh[l] & (1u << s))) q += 16;
        y[l] = d1 * q - m1;
      }
      return;
    }
    case WeightFormat::Q6_K: {
      const uint8_t* b = row + sb * 210;
      const uint8_t* ql = b + h * 64;
      const uint8_t* qh = b + 128 + h * 32;
      const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192) + h * 8;
      const float d = half_at(b + 208);
      for (int l = 0; l < 32; ++l) {
        const uint8_t lo = j % 2 ? ql[l + 32] : ql[l];
        const int q = static_cast<int8_t>(((j < 2 ? lo & 0xF : lo >> 4)) | (((qh[l] >> (2 * j)) & 3) << 4)) - 32;
        y[l] = d * scales[l / 16 + 2 * j] * q;
      }
      return;
    }
    default: break;
  }
}

__global__ void dequant_kernel(DequantParams p) {
  const int64_t segs = (p.cols + 31) / 32;
  const int64_t total = p.rows * segs;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = t / segs, seg = t - r * segs;
    const uint8_t* row = static_cast<const uint8_t*>(p.src) + r * p.src_row_bytes;
    const int64_t c0 = seg * 32;
    const int n = static_cast<int>(p.cols - c0 < 32 ? p.cols - c0 : 32);
    float y[32];
    switch (p.format) {
      case WeightFormat::F32:
        for (int i = 0; i < n; ++i) y[i] = reinterpret_cast<const float*>(row)[c0 + i];
        break;
      case WeightFormat::F16:
        for (int i = 0; i < n; ++i) y[i] = half_at(row + 2 * (c0 + i));
        break;
      case WeightFormat::BF16:
        for (int i = 0; i < n; ++i) y[i] = bf16_bits_to_float(u16(row + 2 * (c0 + i)));
        break;
      case WeightFormat::F8_E4M3:
        for (int i = 0; i < n; ++i) y[i] = f8e4m3(row[c0 + i]);
        break;
      default:
        decode32(p.format, row, seg, y);
    }
    if (p.scale != 1.0f)
      for (int i = 0; i < n; ++i) y[i] *= p.scale;
    if (p.dst_bf16) {
      uint16_t* d = static_cast<uint16_t*>(p.dst) + r * p.dst_ld + c0;
      for (int i = 0; i < n; ++i) d[i] = __bfloat16_as_ushort(__float2bfloat16_rn(y[i]));
    } else {
      float* d = static_cast<float*>(p.dst) + r * p.dst_ld + c0;
      for (int i = 0; i < n; ++i) d[i] = y[i];
    }
  }
}

}  // namespace

void launch_dequant(const DequantParams& p, cudaStream_t s) {
  if (p.rows == 0 || p.cols == 0) return;
  dequant_kernel<<<grid_for(p.rows * ((p.cols + 31) / 32), kThreads), kThreads, 0, s>>>(p);
}

}  // namespace wan::cuda
