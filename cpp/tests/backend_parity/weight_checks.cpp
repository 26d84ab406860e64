// Weights at their stored precision (Backend::load_weight): bf16, f16, fp8-e4m3 with a scale and
// every GGUF block type, as linear() weights (the CPU keeps them compressed and widens per tile;
// CUDA keeps bf16, converts f16, and decodes fp8 and the blocks on the device per product), as
// float32 dense weights, read back widened, and merged into (LoRA) through mergeable_copy.
#include <cmath>
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

// Turns the fp8 GEMM on for one check (set_fp8_gemm) and off after, whatever happens.
class Fp8GemmScope {
 public:
  explicit Fp8GemmScope(Backend& b) : b_(b), on_(b.set_fp8_gemm(true)) {}
  ~Fp8GemmScope() { b_.set_fp8_gemm(false); }
  bool on() const { return on_; }

 private:
  Backend& b_;
  bool on_;
};

// The opt-in fp8 GEMM (an fp8-e4m3 weight meets e4m3 activations in cuBLASLt, sm_89+): bound and
// floor derived at kFp8Gemm (harness.h). Where the device has no fp8 GEMM (and on the CPU
// self-check) the same calls take the dequantize + bf16 path, within the bound too; where it has
// one, an error under the floor means the fast path did not run.
void add_fp8_gemm_checks(std::vector<Check>& v) {
  const float scale = 0.037f;  // a file's scale_weight
  // K = 512 and N = 48: multiples of 16, the shapes cuBLASLt's fp8 kernels take.
  v.push_back({"fp8 GEMM opt-in: linear 96x512 -> 48, F8_E4M3 weight, bias", kFp8Gemm, [=](Ctx& c) -> double {
                 StoredTwin w = stored_twin(c, DType::F8_E4M3, {48, 512}, WeightUse::Matrix, scale);
                 Twin x = c.input({96, 512}), b = c.input({48}), y = c.input({96, 48});
                 Fp8GemmScope fp8(c.dut());
                 c.ref().linear(x.ref, w.t.ref, &b.ref, Activation::None, y.ref);
                 c.dut().linear(x.dut, w.t.dut, &b.dut, Activation::None, y.dut);
                 const double e = c.rel_l2(y);
                 return fp8.on() && e < kFp8GemmFloor ? INFINITY : e;
               }});
  v.push_back({"fp8 GEMM opt-in: linear_add_gated 96x512 -> 48 (residual add as beta = 1), F8_E4M3 weight",
               kFp8Gemm, [=](Ctx& c) -> double {
                 StoredTwin w = stored_twin(c, DType::F8_E4M3, {48, 512}, WeightUse::Matrix, scale);
                 Twin x = c.input({96, 512}), b = c.input({48});
                 // A small residual, so that the product's error is not hidden under it.
                 Twin r = c.input({96, 48}, -1e-3f, 1e-3f);
                 Fp8GemmScope fp8(c.dut());
                 c.ref().linear_add_gated(x.ref, w.t.ref, &b.ref, nullptr, 0, r.ref);
                 c.dut().linear_add_gated(x.dut, w.t.dut, &b.dut, nullptr, 0, r.dut);
                 const double e = c.rel_l2(r);
                 return fp8.on() && e < kFp8GemmFloor ? INFINITY : e;
               }});
  // The GELU applied after the fp8 product (in float32, as with bias): its L2-weighted condition
  // number is at most 1.17 (bench/cuda/README.md, parity bounds); emulated here with numpy at this
  // shape and these value ranges it moves the error from 2.46-2.62e-2 to 2.48-2.65e-2, inside the bound.
  v.push_back({"fp8 GEMM opt-in: linear 96x512 -> 48 with the tanh-GELU after it, F8_E4M3 weight, bias", kFp8Gemm,
               [=](Ctx& c) -> double {
                 StoredTwin w = stored_twin(c, DType::F8_E4M3, {48, 512}, WeightUse::Matrix, scale);
                 Twin x = c.input({96, 512}), b = c.input({48}), y = c.input({96, 48});
                 Fp8GemmScope fp8(c.dut());
                 c.ref().linear(x.ref, w.t.ref, &b.ref, Activation::GeluTanh, y.ref);
                 c.dut().linear(x.dut, w.t.dut, &b.dut, Activation::GeluTanh, y.dut);
                 const double e = c.rel_l2(y);
                 return fp8.on() && e < kFp8GemmFloor ? INFINITY : e;
               }});
  // N = 24 breaks the fp8 rules: the dequantize + bf16 path, with its own bound, opt-in or not.
  v.push_back({"fp8 GEMM opt-in: linear 37x512 -> 24 falls back to the bf16 product", kBf16, [=](Ctx& c) {
                 StoredTwin w = stored_twin(c, DType::F8_E4M3, {24, 512}, WeightUse::Matrix, scale);
                 Twin x = c.input({37, 512}), b = c.input({24}), y = c.input({37, 24});
                 Fp8GemmScope fp8(c.dut());
                 c.ref().linear(x.ref, w.t.ref, &b.ref, Activation::GeluTanh, y.ref);
                 c.dut().linear(x.dut, w.t.dut, &b.dut, Activation::GeluTanh, y.dut);
                 return c.rel_l2(y);
               }});
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
  add_fp8_gemm_checks(v);
  return v;
}

}  // namespace wan::parity
