#pragma once
// The CPU backend: float32 arithmetic, the reference every other backend is checked against.
// Weights: linear()'s matrices stay in their stored dtype (bf16, f16, fp8 + scale, GGUF blocks)
// and are widened per GEMM tile; every other weight is float32 (see load_weight).
#include <atomic>
#include <memory>

#include "backends/cpu/gemm.h"
#include "core/thread_pool.h"
#include "ops/backend.h"

namespace wan::cpu {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads);
  BackendInfo info() const override;

  Tensor empty(const Shape& shape, DType dtype) override;
  Tensor upload(const float* host, const Shape& shape) override;
  Tensor upload_i32(const int32_t* host, const Shape& shape) override;
  Tensor load_weight(const StoredWeight& w) override;
  Tensor mergeable_copy(const Tensor& base) override;
  void download(const Tensor& t, float* host) override;
  void copy(const Tensor& src, Tensor& dst) override;

  void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act, Tensor& y) override;
  void layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps, Tensor& y) override;
  void layer_norm_modulated(const Tensor& x, const Modulation& mod, int shift_chunk, int scale_chunk, float eps,
                            Tensor& y) override;
  void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) override;
  void add_gated(Tensor& x, const Tensor& y, const Modulation* mod, int gate_chunk) override;
  void activation(const Tensor& x, Activation act, Tensor& y) override;
  void modulation_rows(const Tensor& table, const Tensor& rows, Tensor& out) override;
  void add_positional(Tensor& x, const Tensor& pos) override;
  void multiply(Tensor& x, const Tensor& y) override;
  void linear_combination(Tensor& out, const std::vector<std::pair<float, const Tensor*>>& terms) override;
  void embedding(const Tensor& table, const Tensor& ids, Tensor& out) override;
  void timestep_embedding(const Tensor& t, Tensor& y) override;
  void rope(Tensor& x, int heads, const Tensor& cos, const Tensor& sin) override;
  void patchify(const Tensor& x, const PatchParams& p, Tensor& y) override;
  void unpatchify(const Tensor& y, const PatchParams& p, Tensor& out) override;
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p, Tensor& out) override;
  void permute(const Tensor& x, const PermuteParams& p, Tensor& y) override;
  void conv3d(const Tensor& x, const Tensor* past, const Tensor& w, const Tensor* bias, const Conv3dParams& p,
              Tensor& y) override;
  void channel_rms_norm(const Tensor& x, const Tensor& gamma, Activation act, Tensor& y) override;
  void upsample_nearest_2x(const Tensor& x, Tensor& y) override;
  void avg_down_3d(const Tensor& x, const SpaceTimeParams& p, Tensor& y) override;
  void dup_up_3d(const Tensor& x, const SpaceTimeParams& p, Tensor& y) override;
  void conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvTranspose2dParams& p,
                        Tensor& y) override;
  void resize_bilinear(const Tensor& x, float multiply, Tensor& y) override;
  void warp(const Tensor& x, const Tensor& flow, int flow_channel, Tensor& y) override;
  void pixel_shuffle(const Tensor& x, int factor, Tensor& y) override;
  void leaky_relu(const Tensor& x, const LeakyReluParams& p, Tensor& y) override;
  void copy_channels(const Tensor& src, const ChannelCopyParams& p, Tensor& dst) override;
  void mask_blend(const Tensor& a, const Tensor& b, const Tensor& mask, int mask_channel, Tensor& y) override;

  ThreadPool& pool() { return pool_; }
  // Switches the opt-in bf16 dot products on or off (between forwards: the switch is read per
  // product and at load). Returns whether they are on: never where the CPU has no bf16 kernel.
  bool set_bf16_dot(bool on) override;

 private:
  ThreadPool pool_;
  Gemm gemm_;
  // WAN_VIDEO_CPU_PRECISION=bf16 on a CPU with AMX-BF16 or AVX512-BF16: bf16 weights meet
  // activations rounded to bf16 in dot-product instructions (gemm_bf16.h). Opt-in: not the
  // reference arithmetic.
  std::atomic<bool> bf16_dot_{false};
};

// Applies act in place over n contiguous floats (shared by linear's epilogue and activation()).
void apply_activation(float* x, int64_t n, Activation act);

}  // namespace wan::cpu
