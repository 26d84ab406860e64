// torch.randn on a CPU generator, value for value.
//
// The engine: PyTorch's CPUGeneratorImpl is a 32-bit Mersenne Twister seeded with init_genrand on
// the seed's low 32 bits; its output sequence is the standard mt19937's, so std::mt19937 serves.
//
// The transform depends on the element count (ATen's normal_kernel):
//  * numel >= 16 (contiguous float): "normal_fill". First numel uniform floats are drawn, each
//    (r & (2^24 - 1)) * 2^-24 from one 32-bit draw. Then every full block of 16 is turned into
//    normals by Box-Muller on the pairs (j, j + 8): radius = sqrt(-2 log(1 - u_j)),
//    theta = 2 pi u_{j+8}, out_j = radius cos(theta), out_{j+8} = radius sin(theta). If numel is
//    not a multiple of 16, 16 fresh uniforms are drawn into the last 16 slots (overwriting normals
//    of the last full block) and that window is transformed again.
//  * numel < 16: normal_distribution<double> per element. Uniform doubles take 53 bits of a 64-bit
//    draw (two 32-bit draws, the first one high); u1 gives the angle, u2 the radius
//    sqrt(-2 log1p(-u2)); the cosine is returned and the sine cached in the generator for the
//    next element, so elements come in (cos, sin) pairs.
// On AVX2 machines PyTorch evaluates log/sin/cos of the >= 16 path with vectorised approximations;
// the results differ from these libm ones in the last bit or so, far inside the fixtures' tolerance.
#include "pipeline/torch_randn.h"

#include <cmath>
#include <optional>
#include <random>

#include "core/error.h"

namespace wan::pipeline {

namespace {

constexpr double kPi = 3.14159265358979323846;

float uniform_float(std::mt19937& engine) {
  const uint32_t r = static_cast<uint32_t>(engine());
  // 24 random bits scaled by 2^-24: exact in float, in [0, 1).
  return static_cast<float>(r & ((1u << 24) - 1)) * (1.0f / 16777216.0f);
}

double uniform_double(std::mt19937& engine) {
  const uint64_t hi = static_cast<uint32_t>(engine());
  const uint64_t lo = static_cast<uint32_t>(engine());
  const uint64_t r = (hi << 32) | lo;
  return static_cast<double>(r & ((uint64_t{1} << 53) - 1)) * (1.0 / 9007199254740992.0);
}

// Box-Muller on one window of 16 uniforms, in float as PyTorch's scalar normal_fill_16 does.
void box_muller_16(float* d) {
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - d[j];  // [0, 1) -> (0, 1], so the log is finite
    const float u2 = d[j + 8];
    const float radius = std::sqrt(-2.0f * std::log(u1));
    // 2 pi is a double in the reference; the angle is rounded to float before cos/sin.
    const float theta = static_cast<float>(2.0 * kPi * static_cast<double>(u2));
    d[j] = radius * std::cos(theta);
    d[j + 8] = radius * std::sin(theta);
  }
}

}  // namespace

void torch_randn_cpu(uint64_t seed, float* out, int64_t numel) {
  if (numel < 0) fail("E_INVALID_ARGUMENT", "randn: negative element count");
  if (numel == 0) return;
  std::mt19937 engine(static_cast<uint32_t>(seed & 0xffffffffu));

  if (numel >= 16) {
    for (int64_t i = 0; i < numel; ++i) out[i] = uniform_float(engine);
    for (int64_t i = 0; i + 16 <= numel; i += 16) box_muller_16(out + i);
    if (numel % 16 != 0) {
      float* tail = out + numel - 16;
      for (int i = 0; i < 16; ++i) tail[i] = uniform_float(engine);
      box_muller_16(tail);
    }
    return;
  }

  std::optional<double> cached;  // the generator's next_double_normal_sample
  for (int64_t i = 0; i < numel; ++i) {
    if (cached) {
      out[i] = static_cast<float>(*cached);
      cached.reset();
      continue;
    }
    const double u1 = uniform_double(engine);
    const double u2 = uniform_double(engine);
    const double r = std::sqrt(-2.0 * std::log1p(-u2));
    const double theta = 2.0 * kPi * u1;
    cached = r * std::sin(theta);
    out[i] = static_cast<float>(r * std::cos(theta));
  }
}

std::vector<float> torch_randn_cpu(uint64_t seed, int64_t numel) {
  if (numel < 0) fail("E_INVALID_ARGUMENT", "randn: negative element count");
  std::vector<float> v(static_cast<size_t>(numel));
  torch_randn_cpu(seed, v.data(), numel);
  return v;
}

}  // namespace wan::pipeline
