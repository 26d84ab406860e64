#pragma once
// The op interface every model is written against. The CPU backend computes in float32 and is the
// reference; the CUDA backend implements the same calls and is tested against it op by op.
// Ops take plain parameter structs and never allocate their outputs: the model owns buffers.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/cancel.h"
#include "core/tensor.h"

namespace wan {

enum class Activation : uint8_t { None, GeluTanh, GeluErf, Silu };

// adaLN modulation rows: `rows` is [R, chunks, dim]; token t of the flattened [B*S] sequence uses
// row `row_of_token[t]`. One row per sample for an ordinary timestep, one per distinct timestep
// for Wan2.2 TI2V's per-token timesteps. Shift/scale/gate are chunks of that row.
struct Modulation {
  const Tensor* rows = nullptr;
  const Tensor* row_of_token = nullptr;  // I32 [B*S]
};

// T5-style learned relative position bias: score[h, i, j] += table[bucket[i, j], h].
struct RelativeBias {
  const Tensor* table = nullptr;   // F32 [num_buckets, heads]
  const Tensor* buckets = nullptr; // I32 [Sq, Sk]
};

struct AttentionParams {
  int heads = 1;
  float scale = 1.0f;       // usually 1/sqrt(head_dim); T5 uses 1
  bool accumulate = false;  // out += attention (Wan2.1 I2V adds the image branch)
  RelativeBias bias;        // UMT5 encoder only
  // I32 [B, Sk]: keys with 0 are not attended (padding). A batch entry must keep at least one key:
  // a row with every key masked is unspecified (the CPU and simple kernels average V, the flash
  // kernels give 0), and no caller makes one (UMT5 masks padding after at least its EOS token).
  const Tensor* key_mask = nullptr;
};

// The self-attention inputs of a rotary model: y = rope(rms_norm(x[:, column : column + dim]) * weight)
// per token, dim = y's last dimension (the q/k norm across heads, then the rotation of each head's
// adjacent pairs by cos/sin [S, head_dim / 2], S = the tokens of one sample).
struct NormRopeParams {
  int heads = 1;
  float eps = 1e-6f;
  const Tensor* cos = nullptr;
  const Tensor* sin = nullptr;
  int64_t column = 0;  // x's rows may be wider than dim: q, k and v side by side (a stacked product)
};

struct PatchParams {
  int pt = 1, ph = 2, pw = 2;
};

// The causal video VAE keeps activations channels-last, [T, H, W, C] per video: a pixel's channels
// are one contiguous row, so its norms are row ops and its decoded frames are already RGB-interleaved.
struct Conv3dParams {
  int kt = 1, kh = 1, kw = 1;  // kernel; the weight is packed [Cout, kt*kh*kw*Cin] (taps major)
  int stride_t = 1, stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;  // zeros around every frame
  int pad_front = 0;           // zero frames before `past` (causal padding): their taps are skipped
  bool accumulate = false;     // y += conv (a residual sum) instead of y = conv
};

// Wan2.2's parameter-free shortcuts: space/time folded into channels and averaged (down), or
// channels repeated and unfolded into space/time (up).
struct SpaceTimeParams {
  int factor_t = 1, factor_s = 1;
  int drop_frames = 0;      // dup_up_3d: leading output frames not produced (the first chunk)
  bool accumulate = false;  // y += result
};

// How a model uses a weight, so that a backend can choose its storage.
enum class WeightUse : uint8_t {
  Matrix,  // the weight of linear(): may stay narrow or block-quantized, widened inside the product
  Table,   // an embedding table: read a row per token (embedding())
  Dense,   // anything else (biases, norm gains, modulation tables, conv kernels): float32
};

// A weight as the checkpoint stores it: `bytes` of `dtype` for `shape` (row-major, torch order;
// block types hold whole blocks along the last dimension). `data` is valid only during
// load_weight: the backend copies what it keeps.
struct StoredWeight {
  std::string name;  // canonical name, for messages
  const void* data = nullptr;
  size_t bytes = 0;
  DType dtype = DType::F32;
  Shape shape;
  float scale = 1.0f;  // the value is stored * scale (fp8 "scaled" checkpoints)
  WeightUse use = WeightUse::Dense;
};

struct PermuteParams {
  int rank = 0;
  int perm[8] = {};  // output dim i is input dim perm[i]
};

// Frame interpolation (RIFE) works on channels-last images [N, H, W, C], as the VAE does on frames.
// ConvTranspose2d as torch defines it: Ho = (H - 1) * stride - 2 * padding + kh, Wo likewise.
struct ConvTranspose2dParams {
  int kh = 4, kw = 4;
  int stride = 2, padding = 1;
};

// y = leaky_relu(x * channel_scale[c] + residual, slope); scale and residual are optional.
struct LeakyReluParams {
  float slope = 0.2f;
  const Tensor* channel_scale = nullptr;  // [C]
  const Tensor* residual = nullptr;       // the shape of x
};

// dst[p, dst_offset + i] (+)= scale * src[p, src_offset + i] for i < count, over every pixel p of two
// channels-last tensors with the same pixel count: channel concatenation, slicing and axpy in one.
struct ChannelCopyParams {
  int src_offset = 0, dst_offset = 0, count = 0;
  float scale = 1.0f;
  bool accumulate = false;
};

// Device memory held by a backend's allocator (the CUDA backend's caching pool); zeros on the CPU.
struct MemoryStats {
  size_t in_use = 0;  // bytes handed out and not yet returned
  size_t peak = 0;    // largest in_use since the backend was made
  size_t cached = 0;  // bytes returned and kept for reuse
  size_t device_free = 0, device_total = 0;  // the device's free and total memory (driver's view)
};

struct BackendInfo {
  std::string name;    // "cpu" or "cuda"
  std::string gemm;    // which matrix-product implementation serves linear()
  std::string device;  // CPU model or GPU name
  int threads = 1;
  MemoryStats memory;
};

// ---- weight residency (offload)
// A model's weights in groups (a transformer's blocks, then the rest), handed over as they are
// loaded. A streamed group lives in pinned host memory and is brought onto the device ahead of its
// use; the others stay on the device. A parkable residency can move all of its groups to host
// memory and back (the idle expert of a Wan2.2 A14B pair, swapped at the boundary). The memory
// plan (lib/memory/plan.ts) decides which groups stream.
struct WeightGroup {
  std::vector<Tensor*> tensors;  // the model's slots: the residency may rebind them
  bool streamed = false;
};

// Models call acquire() before each group's use, unconditionally: the CPU backend's weights are
// host memory already, and its residency (this base class) does nothing.
class WeightResidency {
 public:
  virtual ~WeightResidency() = default;
  // Adds the next group, just loaded; returns its index.
  virtual int add(WeightGroup group) {
    (void)group;
    return groups_++;
  }
  // Group `group`'s tensors are on the device for the ops issued after this returns, until the
  // next acquire() (a streamed group's slot is reused then); the next streamed group's copy starts.
  virtual void acquire(int group) { (void)group; }
  // Every group to host memory (frees the device), and back (parkable residencies only).
  virtual void park() {}
  virtual void unpark() {}
  // Whether any weight leaves the device: its slots are rebound, so nothing may hold on to them
  // (LoRA merging, reading weights back) while it does.
  virtual bool moves_weights() const { return false; }

 private:
  int groups_ = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual BackendInfo info() const = 0;
  // Where this backend's tensors live: weight loaders convert straight into host tensors.
  virtual Device device() const { return Device::CPU; }
  // Hands cached device memory back to the driver (no-op on the CPU).
  virtual void trim() {}
  // Waits for the work enqueued so far and reports a fault it raised (a device backend runs
  // asynchronously; the CPU backend's ops are done when they return).
  virtual void synchronize() {}
  // Opt-in bf16 dot products for bf16 matrices (the CPU backend's; not the reference arithmetic),
  // for loads and products after the call. Returns whether they are on: false where there are none.
  virtual bool set_bf16_dot(bool on) {
    (void)on;
    return false;
  }
  // Opt-in fp8 GEMM for fp8-e4m3 matrices (the CUDA backend's cuBLASLt path on compute
  // capability 8.9+; WAN_VIDEO_FP8_GEMM=1 sets it at start): the activations are quantized to e4m3
  // per tensor, so it is not the reference arithmetic. Returns whether it is on: false where there
  // is none.
  virtual bool set_fp8_gemm(bool on) {
    (void)on;
    return false;
  }

  // ---- memory
  virtual Tensor empty(const Shape& shape, DType dtype = DType::F32) = 0;
  // Copies host float32 / int32 data into a new backend tensor.
  virtual Tensor upload(const float* host, const Shape& shape) = 0;
  virtual Tensor upload_i32(const int32_t* host, const Shape& shape) = 0;
  // A model weight at its stored precision: the backend chooses the representation (the CPU keeps
  // Matrix weights in their stored dtype and widens them per GEMM tile, the CUDA backend keeps
  // bf16 matrices as they are and dequantizes the others on the device), and linear and embedding
  // accept what this returns for their use. Dense weights come back float32. The default widens on
  // the host and uploads float32.
  virtual Tensor load_weight(const StoredWeight& w);
  // Copies a backend tensor to host memory as numel floats: float32 tensors as they are, weights
  // of any dtype load_weight returned widened (their scale applied).
  virtual void download(const Tensor& t, float* host) = 0;
  virtual void copy(const Tensor& src, Tensor& dst) = 0;
  // Where a model's weight groups live (see WeightResidency): `parkable` lets them all move to host
  // memory, `start_parked` puts each group there as it is added. The default keeps every weight
  // where load_weight put it (the CPU backend: host memory already).
  virtual std::unique_ptr<WeightResidency> make_residency(bool parkable, bool start_parked) {
    (void)parkable;
    (void)start_parked;
    return std::make_unique<WeightResidency>();
  }

  // ---- dense
  // y[M,N] = act(x[M,K] * w[N,K]^T + bias[N]); x and y may be views of larger buffers.
  virtual void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act, Tensor& y) = 0;

  // y = x w^T + b where w stacks several matrices along its rows (self-attention's Q, K and V as one
  // [3*dim, dim] weight, b likewise) and `parts` lists their row counts: y [M, sum(parts)] holds the
  // products side by side. The default computes each part as its own linear() (the results of
  // separate products, bit for bit: the CPU's), a panel of rows at a time; a device backend runs
  // one GEMM.
  virtual void linear_stacked(const Tensor& x, const Tensor& w, const Tensor* bias, const std::vector<int64_t>& parts,
                              Tensor& y);
  // residual += gate * (x w^T + b), gate = a chunk of the token's modulation row, or residual +=
  // x w^T + b when mod is null: an output projection and its gated residual add as one op. The
  // default is linear() into a temporary then add_gated(), a panel of rows at a time (the CPU's,
  // bit for bit); a device backend fuses the add into the GEMM's epilogue.
  virtual void linear_add_gated(const Tensor& x, const Tensor& w, const Tensor* bias, const Modulation* mod,
                                int gate_chunk, Tensor& residual);

  // ---- normalisation (over the last dimension)
  // y = (x - mean) / sqrt(var + eps) [* gamma + beta when given]; y may alias x.
  virtual void layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps, Tensor& y) = 0;
  // y = layer_norm(x) * (1 + scale) + shift, shift/scale = chunks of the token's modulation row.
  virtual void layer_norm_modulated(const Tensor& x, const Modulation& mod, int shift_chunk, int scale_chunk,
                                    float eps, Tensor& y) = 0;
  // y = x / sqrt(mean(x^2) + eps) * weight; y may alias x.
  virtual void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) = 0;
  // See NormRopeParams: x [B, S, C] or [B*S, C], y [B*S, dim] (any shape with that many rows); y
  // may alias x when column is 0 and C == dim. The default is copy_channels (when x is wider or
  // another tensor), rms_norm in place, then rope: the CPU's, bit for bit; a device fuses the three.
  virtual void rms_norm_rope(const Tensor& x, const Tensor& weight, const NormRopeParams& p, Tensor& y);

  // ---- elementwise
  // x += y * gate (gate = a chunk of the token's modulation row), or x += y when mod is null.
  virtual void add_gated(Tensor& x, const Tensor& y, const Modulation* mod, int gate_chunk) = 0;
  virtual void activation(const Tensor& x, Activation act, Tensor& y) = 0;
  // out[r, c, :] = table[c, :] + rows[r, c, :] (rows [R, C*dim]) or + rows[r, :] (rows [R, dim]).
  virtual void modulation_rows(const Tensor& table, const Tensor& rows, Tensor& out) = 0;
  // x[b, s, :] += pos[s, :] for x [B, S, E], pos [S, E].
  virtual void add_positional(Tensor& x, const Tensor& pos) = 0;

  // out = sum_i coeffs[i] * terms[i] (scheduler updates, guidance); out may alias a term.
  virtual void linear_combination(Tensor& out, const std::vector<std::pair<float, const Tensor*>>& terms) = 0;
  // x *= y elementwise (gated feed-forwards).
  virtual void multiply(Tensor& x, const Tensor& y) = 0;

  // ---- reductions (host scalars: the step caches' decisions)
  // mean(|a - b|) over all elements, or mean(|a|) when b is null, accumulated in double. The default
  // downloads both tensors; a device backend overrides it with an on-device reduction.
  virtual double mean_abs_difference(const Tensor& a, const Tensor* b);

  // ---- weights (LoRA merging)
  // A new tensor holding the value of `base` (a weight load_weight returned, any dtype) in a
  // representation add_to_weight writes: exact for narrow and block-quantized weights (the CPU
  // widens to float32; CUDA uses bf16, the precision its products read matrices in). The default
  // serves float32 weights.
  virtual Tensor mergeable_copy(const Tensor& base);
  // w += scale * delta, with w as mergeable_copy returned it and delta float32 of the same size.
  // The default serves float32 weights.
  virtual void add_to_weight(Tensor& w, const Tensor& delta, float scale);

  // ---- embeddings
  // out[n, :] = table[ids[n], :]; ids are I32 and must lie in [0, rows of table).
  virtual void embedding(const Tensor& table, const Tensor& ids, Tensor& out) = 0;
  // Sinusoidal timestep embedding [R, dim] with cos first (diffusers flip_sin_to_cos=True, shift 0).
  virtual void timestep_embedding(const Tensor& t, Tensor& y) = 0;
  // Rotates adjacent pairs of each head of x [B, S, H*D] in place by angles cos/sin [S, D/2].
  virtual void rope(Tensor& x, int heads, const Tensor& cos, const Tensor& sin) = 0;
  // x [B, C, F, H, W] -> y [B, F/pt * H/ph * W/pw, C*pt*ph*pw] (the conv3d patch, (c, kt, kh, kw) order).
  virtual void patchify(const Tensor& x, const PatchParams& p, Tensor& y) = 0;
  // y [B, S, pt*ph*pw*C] ((kt, kh, kw, c) order) -> out [B, C, F, H, W].
  virtual void unpatchify(const Tensor& y, const PatchParams& p, Tensor& out) = 0;

  // ---- video (channels-last frames, see Conv3dParams)
  // y = x.permute(p.perm) made contiguous; x is viewed with p.rank dims.
  virtual void permute(const Tensor& x, const PermuteParams& p, Tensor& y) = 0;
  // y [To, Ho, Wo, Cout] = conv over p.pad_front zero frames, then the frames of `past` [P, H, W, Cin]
  // (may be null), then those of x [T, H, W, Cin], + bias [Cout]; To = (pad_front + P + T - kt) /
  // stride_t + 1. A causal conv passes the frames cached before the chunk as `past`.
  virtual void conv3d(const Tensor& x, const Tensor* past, const Tensor& w, const Tensor* bias, const Conv3dParams& p,
                      Tensor& y) = 0;
  // y = act(x / max(|x|_2, 1e-12) * sqrt(C) * gamma) over the last dim C (the Wan VAE's RMS norm).
  virtual void channel_rms_norm(const Tensor& x, const Tensor& gamma, Activation act, Tensor& y) = 0;
  // [T, H, W, C] -> [T, 2H, 2W, C], each pixel repeated 2x2.
  virtual void upsample_nearest_2x(const Tensor& x, Tensor& y) = 0;
  // [T, H, W, Cin] -> [ceil(T/ft), H/fs, W/fs, Cout]: time padded with leading zero frames to a
  // multiple of ft, each ft*fs*fs block folded into channels (c, t, h, w order) and averaged in
  // groups of Cin*ft*fs*fs/Cout.
  virtual void avg_down_3d(const Tensor& x, const SpaceTimeParams& p, Tensor& y) = 0;
  // [T, H, W, Cin] -> [T*ft - drop, H*fs, W*fs, Cout]: each channel repeated Cout*ft*fs*fs/Cin
  // times, then unfolded into time and space (the inverse arrangement of avg_down_3d).
  virtual void dup_up_3d(const Tensor& x, const SpaceTimeParams& p, Tensor& y) = 0;

  // ---- images (frame interpolation: RIFE's IFNet; channels-last [N, H, W, C])
  // y [N, Ho, Wo, Cout] = ConvTranspose2d(x [N, H, W, Cin]) + bias [Cout]; w packed [Cout, kh*kw*Cin]
  // taps major: w[o, (i*kw + j)*Cin + c] = torch weight[c, o, i, j] (torch stores [Cin, Cout, kh, kw]).
  virtual void conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvTranspose2dParams& p,
                                Tensor& y) = 0;
  // y [N, Ho, Wo, C] = multiply * bilinear resize of x [N, H, W, C]: torch's F.interpolate(mode='bilinear',
  // align_corners=False, antialias=False) with the source scale H/Ho (equal to 1/scale_factor when the
  // sizes are exact multiples of the factor, as RIFE's are): src = max((dst + 0.5) * H/Ho - 0.5, 0).
  virtual void resize_bilinear(const Tensor& x, float multiply, Tensor& y) = 0;
  // Backward warp: y[n, h, w] = x[n] sampled bilinearly at (w + flow[n, h, w, fc], h + flow[n, h, w, fc + 1]),
  // coordinates clamped to the image (torch's grid_sample, align_corners=True, padding_mode='border',
  // on RIFE's grid). flow [N, H, W, Cf] with fc + 2 <= Cf; x and y [N, H, W, C]; y must not alias x.
  virtual void warp(const Tensor& x, const Tensor& flow, int flow_channel, Tensor& y) = 0;
  // [N, H, W, C*r*r] -> [N, H*r, W*r, C]: torch's PixelShuffle(r), input channel c*r*r + i*r + j to
  // pixel (h*r + i, w*r + j), channel c.
  virtual void pixel_shuffle(const Tensor& x, int factor, Tensor& y) = 0;
  // See LeakyReluParams; y may alias x.
  virtual void leaky_relu(const Tensor& x, const LeakyReluParams& p, Tensor& y) = 0;
  // See ChannelCopyParams; dst must not alias src.
  virtual void copy_channels(const Tensor& src, const ChannelCopyParams& p, Tensor& dst) = 0;
  // y = a * s + b * (1 - s) with s = sigmoid(mask[..., mask_channel]) per pixel; a, b, y [N, H, W, C].
  virtual void mask_blend(const Tensor& a, const Tensor& b, const Tensor& mask, int mask_channel, Tensor& y) = 0;

  // ---- attention
  // out[B, Sq, H*D] = softmax(q k^T * scale) v per head; q [B, Sq, H*D], k and v [B, Sk, H*D].
  virtual void attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p,
                         Tensor& out) = 0;

  // ---- cancellation
  // The job whose work runs on this backend now: the device thread that owns the backend sets it
  // around each task of a job (null outside one). Models poll it between blocks, steps, chunks and
  // layers; long ops poll it between the pieces they already split their work into (query blocks,
  // row panels, conv tiles), so that a cancel takes effect within about a second at any size.
  // Read and written by the owning thread only.
  void set_cancel(const CancelToken* token) { cancel_ = token; }
  const CancelToken* cancel_token() const { return cancel_; }
  // Throws E_CANCELLED when the current job was cancelled.
  void check_cancel(const char* where) const { wan::check_cancel(cancel_, where); }

 private:
  const CancelToken* cancel_ = nullptr;
};

// Sets the backend's current job for a scope (restoring the previous one after).
class CancelScope {
 public:
  CancelScope(Backend& backend, const CancelToken* token) : backend_(backend), previous_(backend.cancel_token()) {
    backend_.set_cancel(token);
  }
  ~CancelScope() { backend_.set_cancel(previous_); }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

 private:
  Backend& backend_;
  const CancelToken* previous_;
};

std::unique_ptr<Backend> make_cpu_backend(int threads = 0);

}  // namespace wan
