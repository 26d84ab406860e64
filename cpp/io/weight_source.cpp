#include "io/weight_source.h"

#include <cctype>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "io/mapped_file.h"

namespace wan {

PlanWeightSource::PlanWeightSource(Backend& backend, std::vector<TensorSpec> specs) : backend_(backend) {
  for (auto& s : specs) {
    std::string name = s.name;
    if (!specs_.emplace(name, std::move(s)).second) fail("E_MODEL_FORMAT", "tensor \"" + name + "\" is listed twice");
  }
}

PlanWeightSource::~PlanWeightSource() = default;

const MappedFile& PlanWeightSource::file(const std::string& path) {
  auto it = files_.find(path);
  if (it == files_.end()) it = files_.emplace(path, std::make_unique<MappedFile>(path)).first;
  return *it->second;
}

Tensor PlanWeightSource::take(const std::string& name, const Shape& shape, WeightUse use) {
  auto it = specs_.find(name);
  if (it == specs_.end()) fail("E_MODEL_FORMAT", "tensor \"" + name + "\" is missing from the checkpoint");
  const TensorSpec& s = it->second;
  if (s.shape != shape)
    fail("E_MODEL_FORMAT", s.file + ": tensor \"" + name + "\" has shape " + shape_str(s.shape) + ", expected " +
                               shape_str(shape));
  const int64_t numel = shape_numel(shape);
  const DTypeInfo& d = dtype_info(s.dtype);
  if (d.dtype == DType::I32) fail("E_MODEL_FORMAT", s.file + ": tensor \"" + name + "\" is I32, not a weight dtype");
  if (d.block_elems > 1 && (shape.empty() || shape.back() % d.block_elems != 0))
    fail("E_MODEL_FORMAT", s.file + ": tensor \"" + name + "\" of type " + d.name + " has shape " + shape_str(shape) +
                               ": its last dimension must be a multiple of the " + std::to_string(d.block_elems) +
                               "-element block");
  const uint64_t expected = dtype_bytes(s.dtype, numel);
  if (s.length != expected)
    fail("E_MODEL_FORMAT", s.file + ": tensor \"" + name + "\" has " + std::to_string(s.length) + " bytes, expected " +
                               std::to_string(expected) + " for " + d.name + " " + shape_str(shape));
  const MappedFile& f = file(s.file);
  StoredWeight w;
  w.name = name;
  w.data = f.range(s.offset, s.length, "tensor \"" + name + "\"");
  w.bytes = s.length;
  w.dtype = s.dtype;
  w.shape = shape;
  w.scale = s.scale;
  w.use = use;
  Tensor t = backend_.load_weight(w);
  // The backend copied what it keeps: drop the file pages from this process, so that loading
  // does not hold the checkpoint twice (mapped pages count in the resident set until unmapped).
  f.release(s.offset, s.length);
  taken_.insert(name);
  return t;
}

void PlanWeightSource::finish() {
  std::string unused;
  for (const auto& [name, spec] : specs_)
    if (!taken_.count(name)) unused += (unused.empty() ? "" : ", ") + ("\"" + name + "\" (" + spec.file + ")");
  if (!unused.empty()) fail("E_MODEL_FORMAT", "unexpected tensors the model does not use: " + unused);
  files_.clear();  // drop the maps: the weights are converted
}

namespace {
// "encoder.block.7.layer.0..." -> "encoder.block.#.layer.0...": the first number between dots.
std::string layer_agnostic(const std::string& name) {
  std::string out;
  size_t i = 0;
  bool replaced = false;
  while (i < name.size()) {
    if (!replaced && std::isdigit(static_cast<unsigned char>(name[i])) && i > 0 && name[i - 1] == '.') {
      size_t j = i;
      while (j < name.size() && std::isdigit(static_cast<unsigned char>(name[j]))) ++j;
      if (j == name.size() || name[j] == '.') {
        out += '#';
        i = j;
        replaced = true;
        continue;
      }
    }
    out += name[i++];
  }
  return out;
}
}  // namespace

RandomWeightSource::RandomWeightSource(Backend& backend, uint64_t seed, float stddev, bool share_layers,
                                       DType matrix_dtype)
    : backend_(backend), seed_(seed), stddev_(stddev), share_layers_(share_layers), matrix_dtype_(matrix_dtype) {
  if (matrix_dtype != DType::F32 && matrix_dtype != DType::BF16)
    fail("E_INVALID_ARGUMENT", std::string("random weights are F32 or BF16, not ") + dtype_name(matrix_dtype));
}

Tensor RandomWeightSource::take(const std::string& requested, const Shape& shape, WeightUse use) {
  const std::string name = share_layers_ ? layer_agnostic(requested) : requested;
  if (share_layers_) {
    auto it = shared_.find(name);
    if (it != shared_.end()) return it->second;
  }
  // A splitmix64 stream per tensor, keyed by the name, so the values do not depend on binding order.
  uint64_t h = seed_ ^ 0x9e3779b97f4a7c15ull;
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  const int64_t n = shape_numel(shape);
  std::vector<float> host(static_cast<size_t>(n));
  const float amp = stddev_ * std::sqrt(3.0f);  // uniform [-a, a] has std a/sqrt(3)
  for (int64_t i = 0; i < n; ++i) {
    uint64_t z = h + 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(i + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    host[i] = amp * (static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f);
  }
  StoredWeight w;
  w.name = requested;
  w.shape = shape;
  w.use = use;
  std::vector<uint16_t> narrow;
  if (use == WeightUse::Matrix && matrix_dtype_ == DType::BF16) {
    narrow.resize(host.size());
    for (size_t i = 0; i < host.size(); ++i) {
      uint32_t bits;
      std::memcpy(&bits, &host[i], 4);
      narrow[i] = static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);  // finite values only
    }
    w.dtype = DType::BF16;
    w.data = narrow.data();
    w.bytes = narrow.size() * 2;
  } else {
    w.dtype = DType::F32;
    w.data = host.data();
    w.bytes = host.size() * 4;
  }
  Tensor t = backend_.load_weight(w);
  if (share_layers_) shared_[name] = t;
  return t;
}

}  // namespace wan
