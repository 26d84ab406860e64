#include "ops/backend.h"

#include <algorithm>
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

namespace {
// Rows per panel of the composed fused ops: a temporary of at most 4M floats (16 MiB), which the
// heap reuses from call to call, where a whole [M, N] one would be mapped and faulted in anew
// each time. linear()'s rows are independent (the CPU's own panels rely on it), so panels change
// no result.
int64_t panel_rows(int64_t cols) { return std::max<int64_t>(64, (int64_t{1} << 22) / std::max<int64_t>(1, cols)); }
}  // namespace

void Backend::linear_stacked(const Tensor& x, const Tensor& w, const Tensor* bias, const std::vector<int64_t>& parts,
                             Tensor& y) {
  int64_t total = 0, widest = 0;
  for (int64_t n : parts) {
    total += n;
    widest = std::max(widest, n);
  }
  const int64_t K = x.dim(-1), M = K ? x.numel() / K : 0;
  if (w.rank() != 2 || w.dim(0) != total || w.dim(1) != K || y.dim(-1) != total || y.numel() != M * total ||
      (bias && bias->numel() != total))
    fail("E_INVALID_ARGUMENT", "linear_stacked: weight " + shape_str(w.shape()) + " and output " + shape_str(y.shape()) +
                                   " for parts summing to " + std::to_string(total) + " of input " + shape_str(x.shape()));
  if (parts.size() == 1) {
    linear(x, w, bias, Activation::None, y);
    return;
  }
  const Tensor x2 = x.view({M, K}), y2 = y.view({M, total});
  const int64_t P = std::min(M, panel_rows(widest));
  Tensor scratch = empty({std::max<int64_t>(1, P * widest)}, DType::F32);
  for (int64_t m0 = 0; m0 < M; m0 += P) {
    const int64_t m = std::min(P, M - m0);
    const Tensor xp = x2.slice0(m0, m0 + m);
    Tensor yp = y2.slice0(m0, m0 + m);
    int64_t row = 0;
    for (int64_t n : parts) {
      const Tensor wp = w.slice0(row, row + n);
      const Tensor bp = bias ? bias->narrow_flat(row, n) : Tensor();
      Tensor part = scratch.narrow_flat(0, m * n).view({m, n});
      linear(xp, wp, bias ? &bp : nullptr, Activation::None, part);
      ChannelCopyParams cp;
      cp.dst_offset = static_cast<int>(row);
      cp.count = static_cast<int>(n);
      copy_channels(part, cp, yp);
      row += n;
    }
  }
}

void Backend::linear_add_gated(const Tensor& x, const Tensor& w, const Tensor* bias, const Modulation* mod,
                               int gate_chunk, Tensor& residual) {
  const int64_t K = x.dim(-1), M = K ? x.numel() / K : 0, N = w.dim(0);
  if (w.rank() != 2 || w.dim(1) != K || residual.dim(-1) != N || residual.numel() != M * N ||
      (mod && mod->row_of_token->numel() != M))
    fail("E_INVALID_ARGUMENT", "linear_add_gated: weight " + shape_str(w.shape()) + " and residual " +
                                   shape_str(residual.shape()) + " for input " + shape_str(x.shape()));
  const Tensor x2 = x.view({M, K}), r2 = residual.view({M, N});
  const int64_t P = std::min(M, panel_rows(N));
  Tensor scratch = empty({std::max<int64_t>(1, P * N)}, DType::F32);
  for (int64_t m0 = 0; m0 < M; m0 += P) {
    const int64_t m = std::min(P, M - m0);
    Tensor out = scratch.narrow_flat(0, m * N).view({m, N}), rp = r2.slice0(m0, m0 + m);
    linear(x2.slice0(m0, m0 + m), w, bias, Activation::None, out);
    if (mod) {
      const Tensor rows = mod->row_of_token->slice0(m0, m0 + m);
      const Modulation pm{mod->rows, &rows};
      add_gated(rp, out, &pm, gate_chunk);
    } else {
      add_gated(rp, out, nullptr, 0);
    }
  }
}

void Backend::rms_norm_rope(const Tensor& x, const Tensor& weight, const NormRopeParams& p, Tensor& y) {
  const int64_t dim = y.dim(-1), C = x.dim(-1), rows = C ? x.numel() / C : 0;
  if (!p.cos || !p.sin || p.column < 0 || p.column + dim > C || y.numel() != rows * dim || p.heads <= 0 ||
      dim % p.heads != 0)
    fail("E_INVALID_ARGUMENT", "rms_norm_rope: " + std::to_string(dim) + " columns at " + std::to_string(p.column) +
                                   " of " + shape_str(x.shape()) + " into " + shape_str(y.shape()));
  const int64_t S = p.cos->dim(0);
  if (S <= 0 || rows % S != 0)
    fail("E_INVALID_ARGUMENT", "rms_norm_rope: table " + shape_str(p.cos->shape()) + " for " + std::to_string(rows) +
                                   " tokens");
  Tensor y3 = y.view({rows / S, S, dim});
  if (C == dim && x.raw() == y.raw()) {
    // In place: nothing to move.
  } else if (C == dim) {
    copy(x, y3);
  } else {
    ChannelCopyParams cp;
    cp.src_offset = static_cast<int>(p.column);
    cp.count = static_cast<int>(dim);
    copy_channels(x, cp, y3);
  }
  rms_norm(y3, weight, p.eps, y3);
  rope(y3, p.heads, *p.cos, *p.sin);
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
