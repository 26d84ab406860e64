// Elementwise work on the stream (cuda/kernels/elementwise.h): gated residuals, activations,
// modulation rows, sums and LoRA merges into stored weights. Shapes are checked as the CPU backend
// checks them.
#include <cstdint>
#include <string>
#include <vector>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_error.h"
#include "cuda/kernels/elementwise.h"

namespace wan::cuda {

void CudaBackend::add_gated(Tensor& x, const Tensor& y, const Modulation* mod, int gate_chunk) {
  const char* op = "add_gated";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  WAN_CHECK(y.numel() == x.numel(), "add_gated shapes " + shape_str(x.shape()) + " " + shape_str(y.shape()));
  AddGatedParams p;
  p.x = x.f32();
  p.y = y.f32();
  p.n = x.dim(-1);
  p.rows = rows_of(x);
  if (mod) {
    require_device_f32(*mod->rows, op, "modulation rows");
    require_device_i32(*mod->row_of_token, op, "row_of_token");
    WAN_CHECK(mod->rows->rank() == 3 && mod->rows->dim(2) == p.n && mod->row_of_token->numel() == p.rows &&
                  gate_chunk < mod->rows->dim(1),
              "add_gated: modulation shapes");
    p.mod_rows = mod->rows->f32();
    p.row_of_token = mod->row_of_token->i32();
    p.chunks = static_cast<int>(mod->rows->dim(1));
    p.gate_chunk = gate_chunk;
  }
  enter();
  launch_add_gated(p, stream_);
  after(op);
}

void CudaBackend::activation(const Tensor& x, Activation act, Tensor& y) {
  const char* op = "activation";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  WAN_CHECK(x.numel() == y.numel(), "activation shapes");
  enter();
  BiasActParams p{x.f32(), y.f32(), nullptr, x.numel(), 1, static_cast<Act>(act)};
  launch_bias_act(p, stream_);
  after(op);
}

void CudaBackend::modulation_rows(const Tensor& table, const Tensor& rows, Tensor& out) {
  const char* op = "modulation_rows";
  require_device_f32(table, op, "table");
  require_device_f32(rows, op, "rows");
  require_device_f32(out, op, "out");
  const int64_t dim = table.dim(-1), C = table.numel() / dim, R = rows.dim(0);
  const bool chunked = rows.numel() == R * C * dim;
  WAN_CHECK(chunked || rows.numel() == R * dim, "modulation_rows: rows " + shape_str(rows.shape()));
  WAN_CHECK(out.numel() == R * C * dim, "modulation_rows: out " + shape_str(out.shape()));
  enter();
  ModulationRowsParams p{table.f32(), rows.f32(), out.f32(), R, C, dim, chunked};
  launch_modulation_rows(p, stream_);
  after(op);
}

void CudaBackend::add_positional(Tensor& x, const Tensor& pos) {
  const char* op = "add_positional";
  require_device_f32(x, op, "x");
  require_device_f32(pos, op, "pos");
  const int64_t E = x.dim(-1), S = x.dim(-2);
  WAN_CHECK(pos.numel() == S * E, "add_positional: pos " + shape_str(pos.shape()) + " for " + shape_str(x.shape()));
  enter();
  AddPeriodicParams p{x.f32(), pos.f32(), x.numel(), S * E};
  launch_add_periodic(p, stream_);
  after(op);
}

void CudaBackend::multiply(Tensor& x, const Tensor& y) {
  const char* op = "multiply";
  require_device_f32(x, op, "x");
  require_device_f32(y, op, "y");
  WAN_CHECK(x.numel() == y.numel(), "multiply shapes " + shape_str(x.shape()) + " " + shape_str(y.shape()));
  enter();
  MultiplyParams p{x.f32(), y.f32(), x.numel()};
  launch_multiply(p, stream_);
  after(op);
}

double CudaBackend::mean_abs_difference(const Tensor& a, const Tensor* b) {
  const char* op = "mean_abs_difference";
  require_device_f32(a, op, "a");
  if (b) {
    require_device_f32(*b, op, "b");
    if (b->numel() != a.numel())
      fail("E_INVALID_ARGUMENT", "mean_abs_difference: " + shape_str(a.shape()) + " and " + shape_str(b->shape()) +
                                     " differ in size");
  }
  const int64_t n = a.numel();
  if (n == 0) return 0.0;
  enter();
  Tensor sum = empty({2}, DType::F32);  // room for one double
  double* dsum = static_cast<double*>(sum.raw());
  check_cuda(cudaMemsetAsync(dsum, 0, sizeof(double), stream_), op);
  AbsDiffSumParams p{a.f32(), b ? b->f32() : nullptr, dsum, n};
  launch_abs_diff_sum(p, stream_);
  after(op);
  double host = 0.0;
  check_cuda(cudaMemcpyAsync(&host, dsum, sizeof(double), cudaMemcpyDeviceToHost, stream_), op);
  check_cuda(cudaStreamSynchronize(stream_), op);
  return host / static_cast<double>(n);
}

void CudaBackend::add_to_weight(Tensor& w, const Tensor& delta, float scale) {
  const char* op = "add_to_weight";
  require_cuda(w, op, "weight");
  require_device_f32(delta, op, "delta");
  if (w.dtype() != DType::F32 && w.dtype() != DType::BF16)
    fail("E_UNSUPPORTED", std::string("add_to_weight: ") + dtype_name(w.dtype()) + " weights are not supported");
  if (delta.numel() != w.numel())
    fail("E_INVALID_ARGUMENT", "add_to_weight: delta " + shape_str(delta.shape()) + " does not match the weight " +
                                   shape_str(w.shape()));
  enter();
  AddToWeightParams p{w.raw(), w.dtype() == DType::BF16, delta.f32(), scale, w.numel()};
  launch_add_to_weight(p, stream_);
  after(op);
}

void CudaBackend::linear_combination(Tensor& out, const std::vector<std::pair<float, const Tensor*>>& terms) {
  const char* op = "linear_combination";
  require_device_f32(out, op, "out");
  const int64_t n = out.numel();
  for (const auto& [c, t] : terms) {
    require_device_f32(*t, op, "term");
    WAN_CHECK(t->numel() == n, "linear_combination: term " + shape_str(t->shape()));
  }
  enter();
  // Up to kMaxCombineTerms per pass; longer sums go through a scratch accumulator so that a term
  // aliasing `out` is read before `out` is written.
  const size_t max_terms = kMaxCombineTerms;
  Tensor acc;
  float* target = out.f32();
  if (terms.size() > max_terms) {
    acc = empty(out.shape(), DType::F32);
    target = acc.f32();
  }
  size_t i = 0;
  bool first = true;
  do {
    CombineParams p;
    p.out = target;
    p.count = n;
    if (!first) {
      p.term[p.terms] = target;
      p.coeff[p.terms++] = 1.0f;
    }
    while (i < terms.size() && p.terms < kMaxCombineTerms) {
      p.term[p.terms] = terms[i].second->f32();
      p.coeff[p.terms++] = terms[i].first;
      ++i;
    }
    launch_linear_combination(p, stream_);
    after(op);
    first = false;
  } while (i < terms.size());
  if (acc.defined()) check_cuda(cudaMemcpyAsync(out.raw(), acc.raw(), out.bytes(), cudaMemcpyDeviceToDevice, stream_), op);
}

}  // namespace wan::cuda
