// attention(): the flash kernels of cuda/attention/ where they serve the parameters (bf16 q/k/v,
// no relative bias), else the simple float32 attention of cuda/kernels/attention_simple. The flash
// dispatch picks the Hopper kernel on sm_90 (head 64/128, sm_90a build) or the portable one.
// WAN_VIDEO_ATTENTION: "simple" (read by the constructor) forces the simple attention; "portable"
// keeps the flash path off the Hopper kernel; "fp8" opts into e4m3 attention where the Hopper
// kernel serves it (head 128), never the default.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_error.h"
#include "cuda/kernels/attention_simple.h"
#include "cuda/kernels/elementwise.h"

#ifdef WAN_HAVE_FLASH_ATTENTION
#include "cuda/attention/flash_attention.h"
#endif

namespace wan::cuda {

namespace {
// Score rows of every (batch, head) held at once by the simple attention: bounded scratch at any
// sequence length (256 MiB of float32 scores).
constexpr int64_t kScoreBudget = int64_t{64} << 20;

bool attention_env_is(const char* value) {
  const char* v = std::getenv("WAN_VIDEO_ATTENTION");
  return v && std::strcmp(v, value) == 0;
}
}  // namespace

void CudaBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p,
                            Tensor& out) {
  const char* op = "attention";
  for (auto [t, what] : {std::pair<const Tensor*, const char*>{&q, "q"}, {&k, "k"}, {&v, "v"}, {&out, "out"}}) {
    require_cuda(*t, op, what);
    require_f32(*t, op, what);
  }
  WAN_CHECK(q.rank() == 3 && k.rank() == 3 && v.rank() == 3 && p.heads > 0, "attention: ranks");
  const int64_t B = q.dim(0), HD = q.dim(2), Sk = k.dim(1);
  WAN_CHECK(k.dim(0) == B && v.dim(0) == B && k.dim(2) == HD && v.dim(2) == HD && v.dim(1) == Sk &&
                out.shape() == q.shape() && HD % p.heads == 0,
            "attention shapes q " + shape_str(q.shape()) + " k " + shape_str(k.shape()) + " v " + shape_str(v.shape()));
  WAN_CHECK(!p.bias.table || (p.bias.buckets && p.bias.buckets->numel() == q.dim(1) * Sk &&
                              p.bias.table->dim(1) == p.heads),
            "attention: relative bias shapes");
  WAN_CHECK(!p.key_mask || p.key_mask->numel() == B * Sk, "attention: key mask shape");
  enter();
  if (q.numel() == 0) return;
  if (Sk == 0) {
    if (!p.accumulate) check_cuda(cudaMemsetAsync(out.raw(), 0, out.bytes(), stream_), op);
    return;
  }
  if (!p.bias.table && !simple_attention_only_ && flash_attention(q, k, v, p, out)) return;
  simple_attention(q, k, v, p, out);
}

bool CudaBackend::flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p,
                                  Tensor& out) {
#ifdef WAN_HAVE_FLASH_ATTENTION
  const char* op = "attention (flash)";
  const int64_t B = q.dim(0), Sq = q.dim(1), HD = q.dim(2), Sk = k.dim(1);
  FlashAttentionParams f;
  f.batch = static_cast<int>(B);
  f.heads = p.heads;
  f.head_dim = static_cast<int>(HD / p.heads);
  f.seq_q = static_cast<int>(Sq);
  f.seq_k = static_cast<int>(Sk);
  f.scale = p.scale;
  f.accumulate = p.accumulate;
  f.out = out.raw();
  f.out_f32 = true;
  f.out_row_stride = HD;
  f.q_row_stride = f.k_row_stride = f.v_row_stride = HD;
  f.key_mask = p.key_mask ? p.key_mask->i32() : nullptr;
  if (Sq > INT32_MAX || Sk > INT32_MAX) return false;
  // Ask before converting: the bf16 copies will come from the pool (256-byte aligned), so a
  // stand-in aligned address answers the alignment questions the same way.
  static const uint16_t* const kAligned = reinterpret_cast<const uint16_t*>(uintptr_t{256});
  f.q = f.k = f.v = kAligned;
  if (flash_attention_unsupported(f, sm_)) return false;
  static const bool portable_only = attention_env_is("portable"), fp8 = attention_env_is("fp8");
  f.allow_hopper = !portable_only;
  f.fp8 = fp8;
  Tensor workspace;  // the e4m3 path's quantized q, k, v^T and scales; empty elsewhere
  if (const size_t bytes = flash_attention_workspace_bytes(f, sm_)) {
    workspace = empty({static_cast<int64_t>(bytes)}, DType::F8_E4M3);  // pool blocks are 256-byte aligned
    f.workspace = workspace.raw();
    f.workspace_bytes = bytes;
  }

  auto to_bf16 = [&](const Tensor& t, int64_t rows) {
    Tensor b = empty({rows * HD}, DType::BF16);
    ToBf16Params c;
    c.src = t.raw();
    c.dst = b.data<uint16_t>();
    c.rows = rows;
    c.cols = HD;
    c.src_ld = HD;
    c.dst_ld = HD;
    launch_to_bf16(c, stream_);
    after(op);
    return b;
  };
  Tensor qb = to_bf16(q, B * Sq), kb = to_bf16(k, B * Sk), vb = to_bf16(v, B * Sk);
  f.q = qb.data<uint16_t>();
  f.k = kb.data<uint16_t>();
  f.v = vb.data<uint16_t>();
  if (const char* why = flash_attention_unsupported(f, sm_)) fail("E_NATIVE", std::string(op) + ": " + why);
  const int st = launch_flash_attention(f, stream_);
  if (st != 0) fail_cuda(static_cast<cudaError_t>(st), op);
  after(op);
  return true;
#else
  (void)q, (void)k, (void)v, (void)p, (void)out;
  return false;  // the flash kernels are not part of this build
#endif
}

void CudaBackend::simple_attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p,
                                   Tensor& out) {
  const char* op = "attention (simple)";
  const int64_t B = q.dim(0), Sq = q.dim(1), HD = q.dim(2), Sk = k.dim(1), H = p.heads, D = HD / H;
  const int64_t rows = std::max<int64_t>(1, std::min<int64_t>(Sq, kScoreBudget / std::max<int64_t>(1, B * H * Sk)));
  Tensor scores = empty({B * H * rows * Sk}, DType::F32);
  const bool bias_bf16 = p.bias.table && p.bias.table->dtype() == DType::BF16;
  WAN_CHECK(!p.bias.table || bias_bf16 || p.bias.table->dtype() == DType::F32, "attention: bias table dtype");
  for (int64_t q0 = 0; q0 < Sq; q0 += rows) {
    const int64_t n = std::min(rows, Sq - q0);
    BatchedGemmF32Params s;  // scores[b, h] = scale * q[b, q0:q0+n, h] k[b, :, h]^T
    s.a = q.f32() + q0 * HD;
    s.lda = HD;
    s.a_outer = Sq * HD;
    s.a_inner = D;
    s.b = k.f32();
    s.ldb = HD;
    s.b_outer = Sk * HD;
    s.b_inner = D;
    s.trans_b = true;
    s.c = scores.f32();
    s.ldc = Sk;
    s.c_outer = H * n * Sk;
    s.c_inner = n * Sk;
    s.M = n;
    s.N = Sk;
    s.K = D;
    s.outer_count = static_cast<int>(B);
    s.inner_count = static_cast<int>(H);
    s.alpha = p.scale;
    launch_batched_gemm_f32(s, stream_);
    after(op);

    ScoresSoftmaxParams sm;
    sm.scores = scores.f32();
    sm.rows = n;
    sm.Sk = Sk;
    sm.q0 = q0;
    sm.batch = static_cast<int>(B);
    sm.heads = static_cast<int>(H);
    if (p.bias.table) {
      if (bias_bf16)
        sm.bias_table_bf16 = p.bias.table->data<uint16_t>();
      else
        sm.bias_table = p.bias.table->f32();
      sm.buckets = p.bias.buckets->i32();
    }
    sm.key_mask = p.key_mask ? p.key_mask->i32() : nullptr;
    launch_scores_softmax(sm, stream_);
    after(op);

    BatchedGemmF32Params o;  // out[b, q0:q0+n, h] (+)= probs[b, h] v[b, :, h]
    o.a = scores.f32();
    o.lda = Sk;
    o.a_outer = H * n * Sk;
    o.a_inner = n * Sk;
    o.b = v.f32();
    o.ldb = HD;
    o.b_outer = Sk * HD;
    o.b_inner = D;
    o.trans_b = false;
    o.c = out.f32() + q0 * HD;
    o.ldc = HD;
    o.c_outer = Sq * HD;
    o.c_inner = D;
    o.M = n;
    o.N = D;
    o.K = Sk;
    o.outer_count = static_cast<int>(B);
    o.inner_count = static_cast<int>(H);
    o.beta = p.accumulate ? 1.0f : 0.0f;
    launch_batched_gemm_f32(o, stream_);
    after(op);
  }
}

}  // namespace wan::cuda
