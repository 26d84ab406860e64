#pragma once
// WanTransformer3DModel (diffusers names): Wan2.1 T2V/I2V/FLF2V, Wan2.2 T2V/I2V experts, TI2V 5B.
// Weights are typed structs bound by canonical name; forward() reads like the reference forward.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/weight_source.h"
#include "ops/backend.h"

namespace wan::dit {

struct WanDitConfig {
  int patch_t = 1, patch_h = 2, patch_w = 2;
  int num_heads = 12;
  int head_dim = 128;
  int in_channels = 16;
  int out_channels = 16;
  int text_dim = 4096;
  int freq_dim = 256;
  int ffn_dim = 8960;
  int num_layers = 30;
  bool cross_attn_norm = true;
  float eps = 1e-6f;
  int image_dim = 0;           // 0: no image embedder (everything but Wan2.1 I2V/FLF2V)
  int added_kv_proj_dim = 0;   // 0: no image K/V in cross-attention
  int rope_max_seq_len = 1024;
  int pos_embed_seq_len = 0;   // 0: no learned image position embedding (all but FLF2V)
  // Residency, as the memory plan decides it (lib/memory/plan.ts; no-ops on the CPU backend):
  int resident_blocks = -1;    // blocks kept on the device, the rest streamed; -1: all
  bool swap_expert = false;    // one A14B expert on the device at a time: this one parks while the other runs
  bool start_parked = false;   // loaded straight into host memory (the low-noise expert)
  // Self-attention's Q/K/V as one product, in the blocks whose weights stay where they were loaded
  // (a residency that moves a block moves its slots one by one, so a stack would stay behind).
  bool stack_qkv = true;

  int dim() const { return num_heads * head_dim; }
  int patch_volume() const { return patch_t * patch_h * patch_w; }
};

struct LinearW {
  Tensor weight, bias;  // [out, in], [out]
};

struct AffineNormW {
  Tensor weight, bias;
};

struct AttentionW {
  LinearW to_q, to_k, to_v, to_out;
  // Self-attention: to_q, to_k and to_v stacked along their rows ([3*dim, dim], bias [3*dim]) for
  // one product, when the three are stored alike (dtype, fp8 scale). to_q/k/v are then views of
  // its row ranges (no second copy); a LoRA merge that re-points one of them at a merged copy sends
  // the forward back to three products. Undefined when not stacked.
  LinearW qkv;
  Tensor norm_q, norm_k;       // RMS norm across all heads
  LinearW add_k_proj, add_v_proj;  // Wan2.1 I2V image tokens (cross-attention only)
  Tensor norm_added_k;
};

// Whether the forward can use a.qkv: stacked at load and to_q/k/v still its row ranges.
bool stacked_qkv(const AttentionW& a);

struct BlockW {
  AttentionW attn1;  // self-attention over video tokens, with RoPE
  AttentionW attn2;  // cross-attention to text (and image) tokens
  AffineNormW norm2; // the affine norm before cross-attention (when cross_attn_norm)
  LinearW ffn_in, ffn_out;
  Tensor scale_shift_table;  // [1, 6, dim]
};

struct ImageEmbedderW {
  AffineNormW norm1;
  LinearW ff_in, ff_out;
  AffineNormW norm2;
  Tensor pos_embed;  // [1, pos_embed_seq_len, image_dim] for FLF2V
};

struct WanDitWeights {
  LinearW patch_embedding;  // conv3d weight viewed as [dim, C * pt * ph * pw]
  LinearW time_linear_1, time_linear_2, time_proj;
  LinearW text_linear_1, text_linear_2;
  ImageEmbedderW image_embedder;
  std::vector<BlockW> blocks;
  LinearW proj_out;
  Tensor scale_shift_table;  // [1, 2, dim]
};

// Named intermediates for locating a mismatch (`out.temb`, `out.block0`, ...): copies, in order.
struct Trace {
  std::vector<std::pair<std::string, Tensor>> tensors;
};

struct DitInputs {
  Tensor hidden_states;   // [B, C, F, H, W]
  // Host timesteps: B values, or B*S values (one per token, Wan2.2 TI2V) when per_token.
  std::vector<float> timestep;
  bool per_token_timestep = false;
  Tensor context;         // [B, L, text_dim]
  Tensor context_image;   // [B, Li, image_dim] (Wan2.1 I2V), undefined otherwise
};

// One forward split where the step caches need to look in: everything before the blocks (patch,
// time, text and image embeddings, RoPE), the blocks over the video tokens `x`, and the output head.
// forward() is the three in a row.
struct DitPass {
  int64_t batch = 0, tokens = 0;  // B, S
  Shape latent_shape;             // [B, out_channels, F, H, W] of the result
  Tensor x;                       // [B*S, dim] video tokens, advanced by run_blocks
  Tensor temb;                    // [R, dim]: time embedding (TeaCache's "e"), one row per distinct timestep
  Tensor timestep_proj;           // [R, 6*dim]: its projection (TeaCache's "e0")
  Tensor row_of_token;            // I32 [B*S]
  Tensor context, image;          // [B*L, dim], [B*Li, dim] (image undefined but for Wan2.1 I2V)
  Tensor rope_cos, rope_sin;
};

class WanDit {
 public:
  WanDit(Backend& backend, const WanDitConfig& config, WeightSource& weights);
  WanDit(const WanDit&) = delete;  // weights_by_name() points into this object
  WanDit& operator=(const WanDit&) = delete;
  const WanDitConfig& config() const { return config_; }
  // Returns the predicted flow [B, out_channels, F, H, W]; fills `trace` when given.
  Tensor forward(const DitInputs& in, Trace* trace = nullptr);
  size_t weight_bytes() const { return weight_bytes_; }
  // Every weight by canonical (diffusers) name: the slot in the weight structs that forward()
  // reads, which a LoRA merge may point at a merged copy (and back).
  const std::map<std::string, Tensor*>& weights_by_name() const { return named_; }

  // The idle expert's weights to host memory and back (no-ops unless config.swap_expert).
  void park();
  void unpark();
  // Whether the backend moves this model's weights (streamed blocks, a parkable expert): then its
  // weight slots are rebound under the model, and LoRA merging and reading weights are refused.
  bool moves_weights() const { return residency_->moves_weights(); }

  DitPass begin(const DitInputs& in, Trace* trace = nullptr);
  // Blocks [first, last) on pass.x.
  void run_blocks(DitPass& pass, int first, int last, Trace* trace = nullptr);
  Tensor finish(DitPass& pass);

 private:
  struct Scratch;
  void bind(WeightSource& src);
  void block_forward(const BlockW& w, Tensor& x, const Tensor& context, const Tensor* image, const Modulation& mod,
                     const Tensor& rope_cos, const Tensor& rope_sin, int64_t batch, Scratch& s);

  // RoPE tables on the backend's device, per latent grid (patch units): built and uploaded once
  // per shape, not every forward. A few shapes at most (a job's steps share one).
  struct RopeTables {
    int64_t frames = 0, height = 0, width = 0;
    Tensor cos, sin;  // [S, head_dim / 2]
  };
  const RopeTables& rope_tables(int64_t frames, int64_t height, int64_t width);

  Backend& backend_;
  WanDitConfig config_;
  std::vector<RopeTables> rope_cache_;  // most recently used last
  WanDitWeights w_;
  size_t weight_bytes_ = 0;
  std::map<std::string, Tensor*> named_;
  // Declared after the weights it points into (destroyed first). Groups 0..num_layers-1 are the
  // blocks, group num_layers the rest (embeddings, output head).
  std::unique_ptr<WeightResidency> residency_;
};

}  // namespace wan::dit
