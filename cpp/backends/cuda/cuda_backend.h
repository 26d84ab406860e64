#pragma once
// The CUDA backend: every op of cpp/ops/backend.h on one stream of one device. Activations are
// float32 device tensors (norms, modulation, softmax stay float32 as the reference keeps them).
// Weights arrive at their stored precision (load_weight): bf16 matrices are uploaded as they are,
// f16/f32 ones become bf16 on the device, fp8 and GGUF block matrices stay compressed and are
// dequantized on the device into a bf16 operand just before each product; tables are bf16, every
// other weight float32. Matrices meet the activations on tensor cores with float32 accumulation.
#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <memory>
#include <set>
#include <string>

#include "backends/cuda/device_pool.h"
#include "ops/backend.h"

namespace wan::cuda {

class CublasLtGemm;

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device);
  ~CudaBackend() override;

  BackendInfo info() const override;
  Device device() const override { return Device::CUDA; }
  void trim() override;

  Tensor empty(const Shape& shape, DType dtype) override;
  Tensor upload(const float* host, const Shape& shape) override;
  Tensor upload_i32(const int32_t* host, const Shape& shape) override;
  Tensor load_weight(const StoredWeight& w) override;
  Tensor mergeable_copy(const Tensor& base) override;
  void download(const Tensor& t, float* host) override;
  void copy(const Tensor& src, Tensor& dst) override;
  // Blocks resident up to the plan, the rest streamed from pinned host memory on a second stream
  // (cuda_residency.cpp).
  std::unique_ptr<WeightResidency> make_residency(bool parkable, bool start_parked) override;

  void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act, Tensor& y) override;
  void linear_stacked(const Tensor& x, const Tensor& w, const Tensor* bias, const std::vector<int64_t>& parts,
                      Tensor& y) override;
  void linear_add_gated(const Tensor& x, const Tensor& w, const Tensor* bias, const Modulation* mod, int gate_chunk,
                        Tensor& residual) override;
  void layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps, Tensor& y) override;
  void layer_norm_modulated(const Tensor& x, const Modulation& mod, int shift_chunk, int scale_chunk, float eps,
                            Tensor& y) override;
  void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) override;
  void rms_norm_rope(const Tensor& x, const Tensor& weight, const NormRopeParams& p, Tensor& y) override;
  void add_gated(Tensor& x, const Tensor& y, const Modulation* mod, int gate_chunk) override;
  void activation(const Tensor& x, Activation act, Tensor& y) override;
  void modulation_rows(const Tensor& table, const Tensor& rows, Tensor& out) override;
  void add_positional(Tensor& x, const Tensor& pos) override;
  void linear_combination(Tensor& out, const std::vector<std::pair<float, const Tensor*>>& terms) override;
  void multiply(Tensor& x, const Tensor& y) override;
  double mean_abs_difference(const Tensor& a, const Tensor* b) override;
  void add_to_weight(Tensor& w, const Tensor& delta, float scale) override;
  void embedding(const Tensor& table, const Tensor& ids, Tensor& out) override;
  void timestep_embedding(const Tensor& t, Tensor& y) override;
  void rope(Tensor& x, int heads, const Tensor& cos, const Tensor& sin) override;
  void patchify(const Tensor& x, const PatchParams& p, Tensor& y) override;
  void unpatchify(const Tensor& y, const PatchParams& p, Tensor& out) override;
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
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p, Tensor& out) override;

  // ---- for the benchmark and the parity harness
  cudaStream_t stream() const { return stream_; }
  int sm() const { return sm_; }
  int sm_count() const { return sm_count_; }
  const std::string& gemm_name() const { return gemm_name_; }
  // Forces the portable mma.sync GEMM (true) or cuBLASLt where built (false).
  void set_portable_gemm(bool portable);
  // fp8-e4m3 matrices through cuBLASLt's fp8 GEMM (activations quantized to e4m3 per tensor):
  // on only where cuBLASLt is in use and the device is sm_89 or newer.
  bool set_fp8_gemm(bool on) override;
  void synchronize() override;
  // Binds the device to the calling thread (for code beside the ops: the weight residency).
  void enter_device() const { enter(); }
  // empty() for memory that lives as long as the model (weights, residency buffers): sized exactly
  // (DevicePool::allocate's `exact`), as the memory plan counts it.
  Tensor empty_exact(const Shape& shape, DType dtype);

 private:
  // Binds the device to the calling thread (models are built and run on worker threads).
  void enter() const;
  // After every op: launch errors now, kernel faults too when WAN_VIDEO_CUDA_SYNC=1.
  void after(const char* op) const;
  // bf16 [rows, ld] with ld = round_up(cols, 8), zero-padded: a GEMM operand from an F32 tensor
  // or a BF16 one whose rows are not 16-byte multiples.
  Tensor to_bf16_padded(const Tensor& src, int64_t rows, int64_t cols, int64_t* ld, const char* op);
  // `src` (any weight dtype, its scale applied) decoded on the device into a new tensor of `shape`:
  // bf16 [rows, ld] (ld >= cols, padding zeroed) or float32 [rows, cols].
  Tensor decode(const Tensor& src, bool to_bf16, int64_t ld, const char* op);
  // linear() and its fused forms: y = act(x w^T + bias), or, with accumulate, y += that (times the
  // gate chunk of mod when given: our mma.sync kernel only; callers route gated adds there).
  void product(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act, const Modulation* mod,
               int gate_chunk, bool accumulate, Tensor& y, const char* op);
  // The fp8 fast path of product(): false (nothing written) when the problem does not fit it.
  bool product_fp8(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act, bool accumulate, Tensor& y,
                   int64_t M, int64_t N, int64_t K, const char* op);
  void simple_attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p, Tensor& out);
  bool flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p, Tensor& out);

  int device_ = 0;
  int sm_ = 0, sm_count_ = 0;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  std::shared_ptr<DevicePool> pool_;
  std::unique_ptr<CublasLtGemm> lt_;
  Tensor lt_workspace_;  // cuBLASLt's workspace (bytes), from the pool
  bool lt_gelu_ = true;  // WAN_VIDEO_LT_GELU=0 keeps GELU out of cuBLASLt's epilogue
  // Read by products on the job thread, written by setFp8Gemm on the JS thread: atomic, so a
  // forward in flight sees one value or the other per product, never a torn one.
  std::atomic<bool> portable_gemm_{false};
  bool fp8_wanted_ = false;  // WAN_VIDEO_FP8_GEMM=1 or set_fp8_gemm(true)
  std::atomic<bool> fp8_gemm_{false};  // wanted and possible here
  Tensor fp8_scales_;        // device float[2]: the activations' scale, the weight's
  Tensor fp8_amax_;          // device u32: the activations' amax (quant_fp8.cu)
  std::set<std::array<int64_t, 3>> fp8_refused_;  // (M, N, K) cuBLASLt had no fp8 algorithm for
  bool sync_every_op_ = false;
  bool exact_alloc_ = false;  // set while load_weight / empty_exact allocate
  bool simple_attention_only_ = false;
  std::string gemm_name_;
  std::string lt_missing_;  // why cuBLASLt is not used, when it is not by choice
  std::string gemm_note_;
};

// Shared by the op files (cuda_<op>.cpp): dtype/device checks that name the op, the row count of a
// tensor read as [rows, last dim], and the kernels' refusals and launch statuses as coded errors.
void require_f32(const Tensor& t, const char* op, const char* what);
void require_cuda(const Tensor& t, const char* op, const char* what);
void require_device_f32(const Tensor& t, const char* op, const char* what);
void require_device_i32(const Tensor& t, const char* op, const char* what);
int64_t rows_of(const Tensor& t);
// A size a kernel takes as int: E_INVALID_ARGUMENT naming it when it does not fit.
int to_int(int64_t v, const char* op, const char* what);
// A kernel's parameter check that refused (its message names the field): E_INVALID_ARGUMENT.
void refuse_if(const char* why, const char* op);
// A launch function's cudaError_t as an int (the kernel headers carry no CUDA types): E_DEVICE / E_OOM.
void check_status(int st, const char* op);
uint16_t f32_to_bf16_bits(float f);

}  // namespace wan::cuda
