// Norms, elementwise work, embeddings and the patch reshapes: float32 kernels on the stream,
// shapes checked as the CPU backend checks them.
#include <cstdint>
#include <vector>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_error.h"
#include "cuda/kernels/elementwise.h"
#include "cuda/kernels/norms.h"

namespace wan::cuda {

namespace {
int64_t rows_of(const Tensor& t) { return t.dim(-1) ? t.numel() / t.dim(-1) : 0; }

void require(const Tensor& t, const char* op, const char* what) {
  require_cuda(t, op, what);
  require_f32(t, op, what);
}

void require_i32(const Tensor& t, const char* op, const char* what) {
  require_cuda(t, op, what);
  if (t.dtype() != DType::I32) fail("E_NATIVE", std::string(op) + ": " + what + " must be I32");
}
}  // namespace

void CudaBackend::layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps, Tensor& y) {
  const char* op = "layer_norm";
  require(x, op, "x");
  require(y, op, "y");
  const int64_t n = x.dim(-1);
  WAN_CHECK(y.numel() == x.numel(), "layer_norm output size");
  if (gamma) require(*gamma, op, "gamma");
  if (beta) require(*beta, op, "beta");
  WAN_CHECK((!gamma || gamma->numel() == n) && (!beta || beta->numel() == n), "layer_norm: affine size");
  enter();
  RowNormParams p;
  p.kind = NormKind::Layer;
  p.x = x.f32();
  p.y = y.f32();
  p.rows = rows_of(x);
  p.n = n;
  p.eps = eps;
  p.gamma = gamma ? gamma->f32() : nullptr;
  p.beta = beta ? beta->f32() : nullptr;
  launch_row_norm(p, stream_);
  after(op);
}

void CudaBackend::layer_norm_modulated(const Tensor& x, const Modulation& mod, int shift_chunk, int scale_chunk,
                                       float eps, Tensor& y) {
  const char* op = "layer_norm_modulated";
  require(x, op, "x");
  require(y, op, "y");
  require(*mod.rows, op, "modulation rows");
  require_i32(*mod.row_of_token, op, "row_of_token");
  const int64_t n = x.dim(-1), rows = rows_of(x);
  const Tensor& table = *mod.rows;
  WAN_CHECK(table.rank() == 3 && table.dim(2) == n && mod.row_of_token->numel() == rows && y.numel() == x.numel() &&
                shift_chunk < table.dim(1) && scale_chunk < table.dim(1),
            "layer_norm_modulated shapes");
  enter();
  RowNormParams p;
  p.kind = NormKind::LayerModulated;
  p.x = x.f32();
  p.y = y.f32();
  p.rows = rows;
  p.n = n;
  p.eps = eps;
  p.mod_rows = table.f32();
  p.row_of_token = mod.row_of_token->i32();
  p.chunks = static_cast<int>(table.dim(1));
  p.shift_chunk = shift_chunk;
  p.scale_chunk = scale_chunk;
  launch_row_norm(p, stream_);
  after(op);
}

void CudaBackend::rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) {
  const char* op = "rms_norm";
  require(x, op, "x");
  require(y, op, "y");
  require(weight, op, "weight");
  const int64_t n = x.dim(-1);
  WAN_CHECK(weight.numel() == n && y.numel() == x.numel(), "rms_norm shapes");
  enter();
  RowNormParams p;
  p.kind = NormKind::Rms;
  p.x = x.f32();
  p.y = y.f32();
  p.rows = rows_of(x);
  p.n = n;
  p.eps = eps;
  p.gamma = weight.f32();
  launch_row_norm(p, stream_);
  after(op);
}

// One kernel for the q/k norm and the rotation. Its pairs are read as float2: an odd column, row
// width or base address (none in the models) takes the composed path instead.
void CudaBackend::rms_norm_rope(const Tensor& x, const Tensor& weight, const NormRopeParams& np, Tensor& y) {
  const char* op = "rms_norm_rope";
  require(x, op, "x");
  require(y, op, "y");
  require(weight, op, "weight");
  WAN_CHECK(np.cos && np.sin, "rms_norm_rope: cos/sin tables are required");
  require(*np.cos, op, "cos");
  require(*np.sin, op, "sin");
  const int64_t n = y.dim(-1), C = x.dim(-1), rows = rows_of(x);
  const int64_t D = np.heads > 0 ? n / np.heads : 0, half = D / 2, S = np.cos->dim(0);
  WAN_CHECK(np.heads > 0 && n % np.heads == 0 && D % 2 == 0, "rms_norm_rope: " + std::to_string(np.heads) +
                                                                 " heads of " + shape_str(y.shape()));
  WAN_CHECK(np.column >= 0 && np.column + n <= C && y.numel() == rows * n && weight.numel() == n,
            "rms_norm_rope: " + std::to_string(n) + " columns at " + std::to_string(np.column) + " of " +
                shape_str(x.shape()) + " into " + shape_str(y.shape()));
  WAN_CHECK(S > 0 && rows % S == 0 && np.cos->numel() == S * half && np.sin->numel() == S * half,
            "rms_norm_rope: table " + shape_str(np.cos->shape()) + " for " + std::to_string(rows) + " tokens");
  const float* xs = x.f32() + np.column;
  const bool in_place = xs == y.f32();
  WAN_CHECK(in_place ? C == n : (x.f32() + C * rows <= y.f32() || y.f32() + n * rows <= x.f32()),
            "rms_norm_rope: y overlaps x other than in place");
  auto aligned8 = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 8 == 0; };
  if (C % 2 || np.column % 2 || !aligned8(xs) || !aligned8(y.raw()) || !aligned8(weight.raw())) {
    Backend::rms_norm_rope(x, weight, np, y);
    return;
  }
  enter();
  RmsNormRopeParams p;
  p.x = xs;
  p.y = y.f32();
  p.x_ld = C;
  p.y_ld = n;
  p.gamma = weight.f32();
  p.cos = np.cos->f32();
  p.sin = np.sin->f32();
  p.rows = rows;
  p.S = S;
  p.n = n;
  p.head_dim = static_cast<int>(D);
  p.eps = np.eps;
  launch_rms_norm_rope(p, stream_);
  after(op);
}

void CudaBackend::add_gated(Tensor& x, const Tensor& y, const Modulation* mod, int gate_chunk) {
  const char* op = "add_gated";
  require(x, op, "x");
  require(y, op, "y");
  WAN_CHECK(y.numel() == x.numel(), "add_gated shapes " + shape_str(x.shape()) + " " + shape_str(y.shape()));
  AddGatedParams p;
  p.x = x.f32();
  p.y = y.f32();
  p.n = x.dim(-1);
  p.rows = rows_of(x);
  if (mod) {
    require(*mod->rows, op, "modulation rows");
    require_i32(*mod->row_of_token, op, "row_of_token");
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
  require(x, op, "x");
  require(y, op, "y");
  WAN_CHECK(x.numel() == y.numel(), "activation shapes");
  enter();
  BiasActParams p{x.f32(), y.f32(), nullptr, x.numel(), 1, static_cast<Act>(act)};
  launch_bias_act(p, stream_);
  after(op);
}

void CudaBackend::modulation_rows(const Tensor& table, const Tensor& rows, Tensor& out) {
  const char* op = "modulation_rows";
  require(table, op, "table");
  require(rows, op, "rows");
  require(out, op, "out");
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
  require(x, op, "x");
  require(pos, op, "pos");
  const int64_t E = x.dim(-1), S = x.dim(-2);
  WAN_CHECK(pos.numel() == S * E, "add_positional: pos " + shape_str(pos.shape()) + " for " + shape_str(x.shape()));
  enter();
  AddPeriodicParams p{x.f32(), pos.f32(), x.numel(), S * E};
  launch_add_periodic(p, stream_);
  after(op);
}

void CudaBackend::multiply(Tensor& x, const Tensor& y) {
  const char* op = "multiply";
  require(x, op, "x");
  require(y, op, "y");
  WAN_CHECK(x.numel() == y.numel(), "multiply shapes " + shape_str(x.shape()) + " " + shape_str(y.shape()));
  enter();
  MultiplyParams p{x.f32(), y.f32(), x.numel()};
  launch_multiply(p, stream_);
  after(op);
}

double CudaBackend::mean_abs_difference(const Tensor& a, const Tensor* b) {
  const char* op = "mean_abs_difference";
  require(a, op, "a");
  if (b) {
    require(*b, op, "b");
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
  require(delta, op, "delta");
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
  require(out, op, "out");
  const int64_t n = out.numel();
  for (const auto& [c, t] : terms) {
    require(*t, op, "term");
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

void CudaBackend::embedding(const Tensor& table, const Tensor& ids, Tensor& out) {
  const char* op = "embedding";
  require_cuda(table, op, "table");
  require_i32(ids, op, "ids");
  require(out, op, "out");
  WAN_CHECK(table.dtype() == DType::F32 || table.dtype() == DType::BF16, "embedding: table dtype");
  const int64_t rows = table.dim(0), dim = table.dim(-1), n = ids.numel();
  WAN_CHECK(out.numel() == n * dim, "embedding output " + shape_str(out.shape()));
  enter();
  // Ids are few (a prompt): check them on the host so that a bad one is E_INVALID_ARGUMENT, as on
  // the CPU, rather than a fault in the kernel.
  std::vector<int32_t> host(static_cast<size_t>(n));
  if (n) {
    check_cuda(cudaMemcpyAsync(host.data(), ids.raw(), ids.bytes(), cudaMemcpyDeviceToHost, stream_), op);
    check_cuda(cudaStreamSynchronize(stream_), op);
  }
  for (int32_t id : host)
    if (id < 0 || id >= rows)
      fail("E_INVALID_ARGUMENT", "token id " + std::to_string(id) + " is outside the vocabulary of " +
                                     std::to_string(rows));
  EmbeddingParams p;
  p.table = table.raw();
  p.table_bf16 = table.dtype() == DType::BF16;
  p.ids = ids.i32();
  p.out = out.f32();
  p.count = n;
  p.dim = dim;
  launch_embedding(p, stream_);
  after(op);
}

void CudaBackend::timestep_embedding(const Tensor& t, Tensor& y) {
  const char* op = "timestep_embedding";
  require(t, op, "t");
  require(y, op, "y");
  const int64_t R = t.numel(), dim = y.dim(-1);
  WAN_CHECK(y.numel() == R * dim && dim % 2 == 0, "timestep_embedding shapes");
  enter();
  TimestepEmbeddingParams p{t.f32(), y.f32(), R, dim};
  launch_timestep_embedding(p, stream_);
  after(op);
}

void CudaBackend::rope(Tensor& x, int heads, const Tensor& cos, const Tensor& sin) {
  const char* op = "rope";
  require(x, op, "x");
  require(cos, op, "cos");
  require(sin, op, "sin");
  const int64_t HD = x.dim(-1), S = x.dim(-2), D = heads > 0 ? HD / heads : 0, half = D / 2;
  WAN_CHECK(heads > 0 && HD % heads == 0, "rope: heads");
  WAN_CHECK(cos.numel() == S * half && sin.numel() == S * half, "rope: table " + shape_str(cos.shape()));
  enter();
  RopeParams p;
  p.x = x.f32();
  p.cos = cos.f32();
  p.sin = sin.f32();
  p.rows = rows_of(x);
  p.S = S;
  p.heads = heads;
  p.head_dim = static_cast<int>(D);
  launch_rope(p, stream_);
  after(op);
}

void CudaBackend::patchify(const Tensor& x, const PatchParams& pp, Tensor& y) {
  const char* op = "patchify";
  require(x, op, "x");
  require(y, op, "y");
  WAN_CHECK(x.rank() == 5 && pp.pt > 0 && pp.ph > 0 && pp.pw > 0, "patchify input " + shape_str(x.shape()));
  PatchParamsDev p{x.f32(), y.f32(), x.dim(0), x.dim(1), x.dim(2), x.dim(3), x.dim(4), pp.pt, pp.ph, pp.pw};
  const int64_t tokens = p.B * (p.F / pp.pt) * (p.H / pp.ph) * (p.W / pp.pw);
  WAN_CHECK(y.numel() == tokens * p.C * pp.pt * pp.ph * pp.pw, "patchify output " + shape_str(y.shape()));
  enter();
  launch_patchify(p, stream_);
  after(op);
}

void CudaBackend::unpatchify(const Tensor& y, const PatchParams& pp, Tensor& out) {
  const char* op = "unpatchify";
  require(y, op, "y");
  require(out, op, "out");
  WAN_CHECK(out.rank() == 5 && pp.pt > 0 && pp.ph > 0 && pp.pw > 0, "unpatchify output " + shape_str(out.shape()));
  PatchParamsDev p{y.f32(), out.f32(), out.dim(0), out.dim(1), out.dim(2), out.dim(3), out.dim(4), pp.pt, pp.ph, pp.pw};
  const int64_t tokens = p.B * (p.F / pp.pt) * (p.H / pp.ph) * (p.W / pp.pw);
  WAN_CHECK(y.numel() == tokens * p.C * pp.pt * pp.ph * pp.pw, "unpatchify input " + shape_str(y.shape()));
  enter();
  launch_unpatchify(p, stream_);
  after(op);
}

}  // namespace wan::cuda
