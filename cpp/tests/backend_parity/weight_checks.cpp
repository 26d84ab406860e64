// Weights at their stored precision (Backend::load_weight): bf16, f16, fp8-e4m3 with a scale and
// every GGUF block type, as linear() weights (the CPU keeps them compressed and widens per tile;
// CUDA keeps bf16, converts f16, and decodes fp8 and the blocks on the device per product), as
// float32 dense weights, read back widened, and merged into (LoRA) through mergeable_copy.
#include <cstring>
#include <string>

#include "core/dtype_convert.h"
#include "tests/backend_parity/harness.h"

namespace wan::parity {

namespace {

// Byte offsets of the fp16 scale fields (d, dmin / m) in each block (ggml-common.h).
std::vector<size_t> scale_fields(DType d) {
  switch (d) {
    case DType::Q8_0: case DType::Q4_0: case DType::Q5_0: return {0};
    case DType::Q4_1: case DType::Q5_1: case DType::Q4_K: case DType::Q5_K: return {0, 2};
    case DType::Q2_K: return {80, 82};
    case DType::Q3_K: return {108};
    case DType::Q6_K: return {208};
    default: return {};
  }
}

// A half with a random sign and a magnitude in [2^lo, 2^hi), or an fp16 subnormal now and then.
uint16_t random_half(std::mt19937_64& rng, int lo, int hi) {
  std::uniform_int_distribution<int> e(lo + 15, hi + 14), m(0, 1023), coin(0, 7);
  const uint16_t sign = coin(rng) < 3 ? 0x8000 : 0;
  if (coin(rng) == 0) return static_cast<uint16_t>(sign | (1 + m(rng) % 1023));  // subnormal
  return static_cast<uint16_t>(sign | (e(rng) << 10) | m(rng));
}

// Random stored bytes of `dtype` for `shape`: block types get random quants and fp16 scales of
// ordinary size (and some subnormal ones); scalar types random values of moderate size.
std::vector<uint8_t> random_stored(std::mt19937_64& rng, DType dtype, const Shape& shape) {
  const int64_t n = shape_numel(shape);
  std::vector<uint8_t> b(dtype_bytes(dtype, n));
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& x : b) x = static_cast<uint8_t>(byte(rng));
  const DTypeInfo& d = dtype_info(dtype);
  if (d.block_elems > 1) {
    for (size_t blk = 0; blk < b.size() / d.block_bytes; ++blk)
      for (size_t off : scale_fields(dtype)) {
        const uint16_t h = random_half(rng, -9, -3);
        std::memcpy(&b[blk * d.block_bytes + off], &h, 2);
      }
  } else if (dtype == DType::F16) {
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t h = random_half(rng, -6, 0);
      std::memcpy(&b[2 * i], &h, 2);
    }
  } else if (dtype == DType::BF16) {
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t h = random_half(rng, -6, 0);
      const float f = f16_to_f32(h);  // a moderate value, truncated to bf16 (exact: f16 fits)
      uint32_t u;
      std::memcpy(&u, &f, 4);
      const uint16_t top = static_cast<uint16_t>(u >> 16);
      std::memcpy(&b[2 * i], &top, 2);
    }
  } else if (dtype == DType::F8_E4M3) {
    for (auto& x : b)
      if ((x & 0x7f) == 0x7f) x &= 0xfe;  // no NaN
  }
  return b;
}

struct StoredTwin {
  std::vector<uint8_t> bytes;
  Twin t;
};

StoredTwin stored_twin(Ctx& c, DType dtype, const Shape& shape, WeightUse use, float scale) {
  StoredTwin s;
  s.bytes = random_stored(c.rng(), dtype, shape);
  StoredWeight w;
  w.name = std::string("parity ") + dtype_name(dtype);
  w.data = s.bytes.data();
  w.bytes = s.bytes.size();
  w.dtype = dtype;
  w.shape = shape;
  w.scale = scale;
  w.use = use;
  s.t = c.stored(w);
  return s;
}

}  // namespace

std::vector<Check> weight_checks() {
  std::vector<Check> v;
  const DType types[] = {DType::BF16, DType::F16,  DType::F8_E4M3, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                         DType::Q5_1, DType::Q2_K, DType::Q3_K,    DType::Q4_K, DType::Q5_K, DType::Q6_K};
  for (DType d : types) {
    const std::string name = dtype_name(d);
    const float scale = d == DType::F8_E4M3 ? 0.037f : 1.0f;  // fp8 "scaled" checkpoints
    // 24 rows: an edge GEMM panel on the CPU; 512 columns: two K blocks for both block sizes.
    const Shape shape{24, 512};
    // Read back widened: the device decodes as the CPU does (float32, fp16 scales exact). A
    // bf16-held matrix (f16 converted at load on CUDA) is within bf16 rounding.
    const double read_bound = d == DType::F16 ? kBf16 : kF32;
    v.push_back({"load_weight " + name + " 24x512 matrix, read back", read_bound, [=](Ctx& c) {
                   StoredTwin w = stored_twin(c, d, shape, WeightUse::Matrix, scale);
                   return c.rel_l2(w.t);
                 }});
    v.push_back({"load_weight " + name + " 24x512 dense (float32), read back", kF32, [=](Ctx& c) -> double {
                   StoredTwin w = stored_twin(c, d, shape, WeightUse::Dense, scale);
                   if (w.t.ref.dtype() != DType::F32 || w.t.dut.dtype() != DType::F32) return INFINITY;
                   return c.rel_l2(w.t);
                 }});
    v.push_back({"linear 37x512 -> 24 with a " + name + " weight", kBf16, [=](Ctx& c) {
                   StoredTwin w = stored_twin(c, d, shape, WeightUse::Matrix, scale);
                   Twin x = c.input({37, 512}), b = c.input({24});
                   Twin y = c.input({37, 24});
                   c.ref().linear(x.ref, w.t.ref, &b.ref, Activation::None, y.ref);
                   c.dut().linear(x.dut, w.t.dut, &b.dut, Activation::None, y.dut);
                   return c.rel_l2(y);
                 }});
    v.push_back({"mergeable_copy of a " + name + " weight, add_to_weight, linear", kBf16, [=](Ctx& c) {
                   StoredTwin base = stored_twin(c, d, shape, WeightUse::Matrix, scale);
                   Twin delta = c.input(shape, -0.01f, 0.01f);
                   Twin w{c.ref().mergeable_copy(base.t.ref), c.dut().mergeable_copy(base.t.dut), shape};
                   c.ref().add_to_weight(w.ref, delta.ref, 0.5f);
                   c.dut().add_to_weight(w.dut, delta.dut, 0.5f);
                   Twin x = c.input({5, 512}), y = c.input({5, 24});
                   c.ref().linear(x.ref, w.ref, nullptr, Activation::None, y.ref);
                   c.dut().linear(x.dut, w.dut, nullptr, Activation::None, y.dut);
                   return c.rel_l2(y);
                 }});
  }
  return v;
}

}  // namespace wan::parity
