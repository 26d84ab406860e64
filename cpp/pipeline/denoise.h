#pragma once
// The denoising loop of the Wan pipelines, natively: the scheduler's timesteps, one or two
// transformer passes per step (classifier-free guidance), the Wan2.2 expert switch at the boundary
// timestep, image conditioning (Wan2.2 I2V channel concat; TI2V's clean first latent frame with
// per-token timesteps). JS sees step events, not tensors.
#include <functional>
#include <vector>

#include "models/dit/wan_dit.h"
#include "pipeline/scheduler.h"
#include "pipeline/step_cache.h"

namespace wan::pipeline {

struct DenoiseConfig {
  SchedulerConfig scheduler;
  int steps = 50;
  double shift = 5.0;
  // An explicit schedule (one sigma per step) instead of steps/shift: the 4-step distilled LoRAs.
  std::vector<double> sigmas;
  float guidance_scale = 5.0f;    // CFG for the (high-noise) transformer; <= 1 runs one pass
  float guidance_scale_2 = 5.0f;  // CFG for the low-noise expert
  double boundary_timestep = -1;  // Wan2.2 A14B: high-noise expert while t >= this; < 0: one expert
  StepCacheConfig cache;          // TeaCache / First Block Cache; kind None runs every block
  // Steps (0-based) at which the loop keeps its prediction of the clean latents, x0 = x_t - sigma_t
  // * v (what the model's flow output says the finished sample is), for previews of the trajectory.
  std::vector<int> preview_steps;
};

struct DenoiseInputs {
  Tensor latents;          // [B, C, F, H, W]: the initial noise, advanced in place
  Tensor prompt_embeds;    // [B, L, text_dim]
  Tensor negative_embeds;  // [B, L', text_dim]; undefined: no guidance
  Tensor context_image;    // CLIP features for Wan2.1 I2V; undefined otherwise
  // Wan2.2 I2V / FLF2V: [B, 20, F, H, W] = 4-channel frame mask + VAE latents of the condition
  // video, concatenated after the latents as transformer input.
  Tensor channel_condition;
  // TI2V image-to-video: the normalised latent of the first frame [B, C, 1, H, W]; the first latent
  // frame is replaced by it in every model input and in the result, and its tokens get timestep 0.
  Tensor first_frame_condition;
  // TI2V (expand_timesteps): one timestep per token even without an image.
  bool per_token_timesteps = false;
};

struct StepEvent {
  int index = 0;
  int total = 0;
  float timestep = 0;
  int expert = 0;  // 0: transformer (high-noise), 1: transformer_2 (low-noise)
  int forwards = 0;  // transformer calls this step (2 with guidance)
  int computed = 0;  // of which ran every block (the others used the step cache)
  double ms = 0;
};

// Called after every step with the latents it produced (a backend tensor, valid during the call).
using StepCallback = std::function<void(const StepEvent&, const Tensor& latents)>;

struct DenoisePreview {
  int step = 0;
  Tensor x0;  // [B, C, F, H, W], the first-frame blend applied for TI2V
};

struct DenoiseResult {
  Tensor latents;               // the first-frame blend applied for TI2V
  std::vector<CacheCall> calls; // one per transformer call, in call order (cond, then uncond)
  std::vector<DenoisePreview> previews;  // one per reached entry of DenoiseConfig::preview_steps
};

// Runs the loop; `low_noise` may be null (one expert). The job's cancel (Backend::check_cancel) is
// polled before every step and, inside the transformer, before every block.
DenoiseResult denoise(Backend& backend, dit::WanDit& high_noise, dit::WanDit* low_noise, const DenoiseConfig& config,
                      DenoiseInputs inputs, const StepCallback& on_step);

}  // namespace wan::pipeline
