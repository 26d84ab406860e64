#include "io/weight_source.h"

#include <cctype>
#include <cmath>
#include <vector>

#include "core/dtype_convert.h"
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

Tensor PlanWeightSource::take(const std::string& name, const Shape& shape) {
  auto it = specs_.find(name);
  if (it == specs_.end()) fail("E_MODEL_FORMAT", "tensor \"" + name + "\" is missing from the checkpoint");
  const TensorSpec& s = it->second;
  if (s.shape != shape)
    fail("E_MODEL_FORMAT", s.file + ": tensor \"" + name + "\" has shape " + shape_str(s.shape) + ", expected " +
                               shape_str(shape));
  const uint64_t numel = static_cast<uint64_t>(shape_numel(shape));
  if (s.length != numel * dtype_size(s.dtype))
    fail("E_MODEL_FORMAT", s.file + ": tensor \"" + name + "\" has " + std::to_string(s.length) + " bytes, expected " +
                               std::to_string(numel * dtype_size(s.dtype)));
  const uint8_t* bytes = file(s.file).range(s.offset, s.length, "tensor \"" + name + "\"");
  Tensor t;
  if (backend_.device() == Device::CPU) {
    t = backend_.empty(shape, DType::F32);  // converted in place: no second host copy
    convert_to_f32(s.dtype, bytes, numel, s.scale, t.f32());
  } else {
    std::vector<float> host(numel);
    convert_to_f32(s.dtype, bytes, numel, s.scale, host.data());
    t = backend_.upload_weight(host.data(), shape);
  }
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

Tensor RandomWeightSource::take(const std::string& requested, const Shape& shape) {
  const std::string name = share_layers_ ? layer_agnostic(requested) : requested;
  if (share_layers_) {
    auto it = shared_.find(name);
    if (it != shared_.end()) return it->second;
  }
  // A splitmix64 stream per tensor, keyed by the name, so the values do not depend on binding order.
  uint64_t h = seed_ ^ 0x9e3779b97f4a7c15ull;
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  const bool on_host = backend_.device() == Device::CPU;
  Tensor t = on_host ? backend_.empty(shape, DType::F32) : Tensor();
  const int64_t n = shape_numel(shape);
  std::vector<float> host;
  float* out = on_host ? t.f32() : (host.resize(n), host.data());
  const float amp = stddev_ * std::sqrt(3.0f);  // uniform [-a, a] has std a/sqrt(3)
  for (int64_t i = 0; i < n; ++i) {
    uint64_t z = h + 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(i + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    out[i] = amp * (static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f);
  }
  if (!on_host) t = backend_.upload_weight(host.data(), shape);
  if (share_layers_) shared_[name] = t;
  return t;
}

}  // namespace wan
