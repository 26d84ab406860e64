#include "ops/backend.h"

#include <cmath>

#include "core/error.h"

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

}  // namespace wan
