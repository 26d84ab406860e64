#include "ops/backend.h"

#include <cmath>

#include "core/error.h"
#include "core/gguf_blocks.h"

namespace wan {

double Backend::mean_abs_difference(const Tensor& a, const Tensor* b) {
  if (b && b->numel() != a.numel())
    fail("E_INVALID_ARGUMENT", "mean_abs_difference: " + shape_str(a.shape()) + " and " + shape_str(b->shape()) +
                                   " differ in size");
  const int64_t n = a.numel();
  if (n == 0) return 0.0;
  std::vector<float> ha(n), hb(b ? n : 0);
  download(a, ha.data());
  if (b) download(*b, hb.data());
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::fabs(static_cast<double>(ha[i]) - (b ? hb[i] : 0.0));
  return sum / static_cast<double>(n);
}

Tensor Backend::load_weight(const StoredWeight& w) {
  std::vector<float> host(static_cast<size_t>(shape_numel(w.shape)));
  dequantize(w.dtype, w.data, shape_numel(w.shape), w.scale, host.data());
  return upload(host.data(), w.shape);
}

Tensor Backend::mergeable_copy(const Tensor& base) {
  if (base.dtype() != DType::F32 || base.scale() != 1.0f)
    fail("E_UNSUPPORTED", std::string("LoRA merge: ") + dtype_name(base.dtype()) + " weights are not supported by the " +
                              info().name + " backend");
  Tensor t = empty(base.shape(), DType::F32);
  copy(base, t);
  return t;
}

void Backend::add_to_weight(Tensor& w, const Tensor& delta, float scale) {
  if (delta.numel() != w.numel())
    fail("E_INVALID_ARGUMENT", "add_to_weight: delta " + shape_str(delta.shape()) + " does not match the weight " +
                                   shape_str(w.shape()));
  if (w.dtype() != DType::F32)
    fail("E_UNSUPPORTED", std::string("add_to_weight: ") + dtype_name(w.dtype()) + " weights are not supported by the " +
                              info().name + " backend");
  Tensor flat = w.view({w.numel()});
  const Tensor d = delta.view({delta.numel()});
  linear_combination(flat, {{1.0f, &flat}, {scale, &d}});
}

}  // namespace wan
