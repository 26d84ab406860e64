// Fast mode: a distilled 4-step LoRA pair (one LoRA per Wan2.2 A14B expert) and the sampling those
// LoRAs were distilled for. The hosted APIs' speed switches (Oxen `run_fast`) land here when the
// pipeline knows such a pair.
//
// Source: lightx2v (ModelTC/LightX2V), the authors of the Wan2.2 distill LoRAs
// (huggingface.co/lightx2v/Wan2.2-Distill-Loras, e.g.
// wan2.2_t2v_A14b_{high,low}_noise_lora_rank64_lightx2v_4step_1217.safetensors):
//   configs/wan22/wan_moe_t2v_distill_lora.json (and wan_moe_i2v_distill.json):
//     infer_steps 4, enable_cfg false (guidance 1: one pass per step), sample_shift 5.0,
//     denoising_step_list [1000, 750, 500, 250], boundary_step_index 2
//   lightx2v/models/schedulers/wan/step_distill/scheduler.py (Wan22StepDistillScheduler):
//     sigma(t) = shift * s / (1 + (shift - 1) * s) with s = t / 1000, at the listed t only;
//     x <- x + (sigma_next - sigma) * v with a last step to sigma 0 (a flow-matching Euler step);
//     the high-noise expert runs the steps before boundary_step_index, the low-noise one the rest.
// So fast mode is: Euler on those explicit sigmas, guidance 1 for both experts, and the expert
// switch between steps 1 and 2 (the request's boundary ratio does not apply).

export interface FastLoraPair {
  high: string;
  low: string;
}

/** lightx2v's distillation settings. */
export const LIGHTX2V_4STEP = {
  steps: 4,
  shift: 5.0,
  guidanceScale: 1,
  denoisingStepList: [1000, 750, 500, 250],
  boundaryStepIndex: 2,
  source: 'ModelTC/LightX2V configs/wan22/wan_moe_t2v_distill_lora.json; step_distill/scheduler.py',
} as const;

export interface FastSampling {
  scheduler: 'euler';
  steps: number;
  shift: number;
  sigmas: number[];
  guidanceScale: number;
  guidanceScale2: number;
  /** High-noise expert while t >= this: between the timesteps of steps boundaryStepIndex - 1 and boundaryStepIndex. */
  boundaryTimestep: number;
}

export function fastSampling(preset: typeof LIGHTX2V_4STEP = LIGHTX2V_4STEP): FastSampling {
  const shifted = (s: number) => (preset.shift * s) / (1 + (preset.shift - 1) * s);
  const sigmas = preset.denoisingStepList.map((t) => shifted(t / 1000));
  const b = preset.boundaryStepIndex;
  return {
    scheduler: 'euler',
    steps: sigmas.length,
    shift: preset.shift,
    sigmas,
    guidanceScale: preset.guidanceScale,
    guidanceScale2: preset.guidanceScale,
    // A midpoint, not a timestep: float32 timesteps must not sit on the boundary.
    boundaryTimestep: ((sigmas[b - 1] + sigmas[b]) / 2) * 1000,
  };
}
