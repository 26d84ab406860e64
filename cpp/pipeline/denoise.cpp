#include "pipeline/denoise.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "core/error.h"

namespace wan::pipeline {

namespace {

// Channel concat [B, C1, ...] ++ [B, C2, ...] -> [B, C1 + C2, ...] (the I2V transformer input).
void concat_channels(Backend& be, const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t B = a.dim(0), per_a = a.numel() / B, per_b = b.numel() / B;
  for (int64_t i = 0; i < B; ++i) {
    Tensor dst_a = out.narrow_flat(i * (per_a + per_b), per_a);
    Tensor dst_b = out.narrow_flat(i * (per_a + per_b) + per_a, per_b);
    be.copy(a.narrow_flat(i * per_a, per_a), dst_a);
    be.copy(b.narrow_flat(i * per_b, per_b), dst_b);
  }
}

// Replaces latent frame 0 of x [B, C, F, H, W] by cond [B, C, 1, H, W].
void put_first_frame(Backend& be, Tensor& x, const Tensor& cond) {
  const int64_t B = x.dim(0), C = x.dim(1), F = x.dim(2), HW = x.dim(3) * x.dim(4);
  for (int64_t bc = 0; bc < B * C; ++bc) {
    Tensor dst = x.narrow_flat(bc * F * HW, HW);
    be.copy(cond.narrow_flat(bc * HW, HW), dst);
  }
}

}  // namespace

DenoiseResult denoise(Backend& be, dit::WanDit& high_noise, dit::WanDit* low_noise, const DenoiseConfig& config,
                      DenoiseInputs in, const StepCallback& on_step) {
  Tensor& latents = in.latents;
  if (latents.rank() != 5) fail("E_INVALID_ARGUMENT", "latents must be [B, C, F, H, W]");
  const int64_t B = latents.dim(0), F = latents.dim(2), H = latents.dim(3), W = latents.dim(4);
  const dit::WanDitConfig& dc = high_noise.config();
  if (in.first_frame_condition.defined() &&
      (in.first_frame_condition.dim(1) != latents.dim(1) || in.first_frame_condition.dim(2) != 1 ||
       in.first_frame_condition.dim(3) != H || in.first_frame_condition.dim(4) != W))
    fail("E_INVALID_ARGUMENT", "first_frame_condition must be [B, C, 1, H, W] like the latents' first frame");

  auto scheduler = make_scheduler(be, config.scheduler);
  if (config.sigmas.empty()) scheduler->set_timesteps(config.steps, config.shift);
  else scheduler->set_sigmas(config.sigmas);
  const std::vector<float> timesteps = scheduler->timesteps();
  const int64_t tokens = (F / dc.patch_t) * (H / dc.patch_h) * (W / dc.patch_w);

  Tensor model_input = latents;
  if (in.channel_condition.defined()) model_input = be.empty({B, latents.dim(1) + in.channel_condition.dim(1), F, H, W});
  else if (in.first_frame_condition.defined()) model_input = be.empty(latents.shape());
  Tensor cond_out, uncond_out;
  Tensor guided = be.empty(latents.shape());
  // Streams 0 (cond) and 1 (uncond) keep separate cache state; the expert switch clears it.
  StepCache cache(be, config.cache);
  int previous_expert = -1;
  std::vector<DenoisePreview> previews;

  // The scheduler's own latents keep their first frame (the reference records them unblended);
  // only the model inputs and the result carry the clean condition.
  for (int i = 0; i < static_cast<int>(timesteps.size()); ++i) {
    be.check_cancel("before a denoising step");
    const auto t0 = std::chrono::steady_clock::now();
    const float t = timesteps[i];
    const bool use_low = low_noise && config.boundary_timestep >= 0 && t < config.boundary_timestep;
    dit::WanDit& model = use_low ? *low_noise : high_noise;
    const float g = use_low ? config.guidance_scale_2 : config.guidance_scale;
    if (previous_expert != (use_low ? 1 : 0)) {
      cache.reset();
      // One A14B expert on the device at a time (when the memory plan says so): the idle one goes
      // to host memory before the active one comes back (no-ops otherwise, and on the CPU).
      if (low_noise) {
        (use_low ? high_noise : *low_noise).park();
        model.unpark();
      }
    }
    previous_expert = use_low ? 1 : 0;
    const size_t calls_before = cache.calls().size();

    if (in.channel_condition.defined()) concat_channels(be, latents, in.channel_condition, model_input);
    else if (in.first_frame_condition.defined()) {
      be.copy(latents, model_input);
      put_first_frame(be, model_input, in.first_frame_condition);
    }

    dit::DitInputs di;
    di.hidden_states = model_input;
    di.context_image = in.context_image;
    if (in.per_token_timesteps || in.first_frame_condition.defined()) {
      // Tokens of the clean first latent frame carry timestep 0 (TI2V image-to-video).
      di.per_token_timestep = true;
      di.timestep.assign(B * tokens, t);
      if (in.first_frame_condition.defined()) {
        const int64_t first = (H / dc.patch_h) * (W / dc.patch_w);
        for (int64_t b = 0; b < B; ++b) std::fill_n(di.timestep.begin() + b * tokens, first, 0.0f);
      }
    } else {
      di.timestep.assign(B, t);
    }
    di.context = in.prompt_embeds;
    cond_out = cache.forward(model, di, /*stream*/ 0, i);
    int forwards = 1;
    const bool guide = in.negative_embeds.defined() && config.guidance_scale > 1.0f;
    if (guide) {
      di.context = in.negative_embeds;
      uncond_out = cache.forward(model, di, /*stream*/ 1, i);
      ++forwards;
      // noise_uncond + g * (noise_cond - noise_uncond)
      be.linear_combination(guided, {{1.0f - g, &uncond_out}, {g, &cond_out}});
    }
    const Tensor& flow = guide ? guided : cond_out;
    if (std::find(config.preview_steps.begin(), config.preview_steps.end(), i) != config.preview_steps.end()) {
      DenoisePreview p{i, be.empty(latents.shape())};
      be.linear_combination(p.x0, {{1.0f, &latents}, {-scheduler->sigmas()[i], &flow}});
      if (in.first_frame_condition.defined()) put_first_frame(be, p.x0, in.first_frame_condition);
      previews.push_back(std::move(p));
    }
    scheduler->step(flow, latents);
    StepEvent ev;
    ev.index = i;
    ev.total = static_cast<int>(timesteps.size());
    ev.timestep = t;
    ev.expert = use_low ? 1 : 0;
    ev.forwards = forwards;
    for (size_t c = calls_before; c < cache.calls().size(); ++c) ev.computed += cache.calls()[c].computed ? 1 : 0;
    ev.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (on_step) on_step(ev, latents);
  }
  if (in.first_frame_condition.defined()) put_first_frame(be, latents, in.first_frame_condition);
  return DenoiseResult{latents, cache.calls(), std::move(previews)};
}

}  // namespace wan::pipeline
