#pragma once
// Where a model's weights come from. Models bind their typed weight structs by canonical name with
// take(name, shape); a checkpoint plan (from TypeScript) and random initialisation (benchmarks)
// are the two sources.
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ops/backend.h"

namespace wan {

class MappedFile;

// One tensor of the plan: which bytes of which file, stored how.
struct TensorSpec {
  std::string name;  // canonical name
  std::string file;
  uint64_t offset = 0;
  uint64_t length = 0;
  DType dtype = DType::F32;
  Shape shape;
  float scale = 1.0f;  // fp8 "scaled" checkpoints
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // The backend tensor for `name`, stored as the backend chooses for `use` (see
  // Backend::load_weight: Dense weights are float32); E_MODEL_FORMAT if it is absent or its shape
  // differs.
  virtual Tensor take(const std::string& name, const Shape& shape, WeightUse use = WeightUse::Dense) = 0;
  // Called after binding: fails on anything that was offered but not taken.
  virtual void finish() {}
};

class PlanWeightSource final : public WeightSource {
 public:
  PlanWeightSource(Backend& backend, std::vector<TensorSpec> specs);
  ~PlanWeightSource() override;
  Tensor take(const std::string& name, const Shape& shape, WeightUse use = WeightUse::Dense) override;
  void finish() override;

 private:
  const MappedFile& file(const std::string& path);
  Backend& backend_;
  std::map<std::string, TensorSpec> specs_;
  std::set<std::string> taken_;
  std::map<std::string, std::unique_ptr<MappedFile>> files_;
};

// Deterministic pseudo-random weights (uniform, given standard deviation) for benchmarks. With
// share_layers, every numbered layer gets layer 0's tensors: the same FLOPs and the same weight
// traffic per layer, in the memory of one layer (UMT5-XXL is 23 GB in float32, more than the
// benchmark machine holds). matrix_dtype BF16 stores the Matrix weights as bf16 (rounded to
// nearest even), as a bf16 checkpoint would hand them to the backend.
class RandomWeightSource final : public WeightSource {
 public:
  RandomWeightSource(Backend& backend, uint64_t seed, float stddev, bool share_layers = false,
                     DType matrix_dtype = DType::F32);
  Tensor take(const std::string& name, const Shape& shape, WeightUse use = WeightUse::Dense) override;

 private:
  Backend& backend_;
  uint64_t seed_;
  float stddev_;
  bool share_layers_;
  DType matrix_dtype_;
  std::map<std::string, Tensor> shared_;
};

}  // namespace wan
