// The addon's pipeline functions: the denoising loop, schedulers and torch-compatible noise.
import type { NativeTensor, NativeTransformer } from './native.js';

/** Which flow-matching scheduler: diffusers' UniPCMultistepScheduler, DPMSolverMultistepScheduler (DPM-Solver++), FlowMatchEulerDiscreteScheduler. */
export type NativeSchedulerKind = 'unipc' | 'dpmsolver' | 'euler';

/**
 * A scheduler's configuration as the native side takes it (already mapped from a diffusers
 * scheduler config: see lib/conformance/kinds/scheduler.ts). Every field but `kind` has the
 * default Wan uses.
 */
export interface NativeSchedulerConfig {
  kind: NativeSchedulerKind;
  /** Default 1000. */
  numTrainTimesteps?: number;
  /** unipc and dpmsolver: 1 to 3, default 2. */
  solverOrder?: number;
  /** unipc and dpmsolver, default true (unipc refuses false with solverOrder > 1). */
  lowerOrderFinal?: boolean;
  /** unipc: "bh2" (default); dpmsolver: "midpoint" (default) or "heun". */
  solverType?: string;
  /** unipc: skip the corrector of step s when s - 1 is listed (diffusers' convention). */
  disableCorrector?: number[];
  /** dpmsolver, default false (the step onto sigma 0 is first order either way). */
  eulerAtFinal?: boolean;
  /** unipc: the unshifted sigma grid, diffusers' (default) or the official Wan repository's. */
  sigmaGrid?: 'diffusers' | 'wan';
}

export interface NativeSchedulerRunOptions extends NativeSchedulerConfig {
  /** At least 1 (ignored when `sigmas` is given); requests are limited to MAX_STEPS before they get here. */
  steps?: number;
  /** Flow shift, > 0 (ignored when `sigmas` is given). */
  shift?: number;
  /** An explicit schedule instead of steps/shift: one sigma per step, strictly decreasing in (0, 1]. */
  sigmas?: number[] | Float64Array;
  /** The initial sample. */
  sample: NativeTensor;
  /** [n, ...sample.shape]: what the model returned at steps 0..n-1 (n may be below the step count, 0 included). */
  modelOutputs: NativeTensor;
}

export interface NativeSchedulerRun {
  /** What the transformer is given at each step (integers for unipc and dpmsolver, as diffusers casts them). */
  timesteps: Float32Array;
  /** steps + 1 values, the last 0. */
  sigmas: Float32Array;
  /** [n, ...sample.shape]: the sample after each step. */
  samples: NativeTensor;
}

/**
 * A step cache for the native loop. Decisions follow the references exactly: First Block Cache as
 * diffusers' FirstBlockCache hooks, TeaCache as TeaCache4Wan2.1's teacache_forward, DBCache as
 * cache-dit's dual-block cache. State is kept per guidance branch and reset at the Wan2.2 expert
 * switch.
 */
export interface NativeStepCache {
  kind: 'none' | 'fbcache' | 'teacache' | 'dbcache';
  /**
   * FBCache: skip when the relative change of block 0's residual is <= this; TeaCache: while the
   * accumulated rescaled distance is < this; DBCache: reuse the middle blocks when the relative
   * change of the first fnBlocks' residual is < this.
   */
  threshold: number;
  /** Steps before this always run every block (default 0). */
  startStep?: number;
  /** Steps from this one on always run every block (default: none). */
  endStep?: number;
  /** The window in transformer calls from the start of the loop (two per guided step): TeaCache's ret_steps / cutoff_steps. */
  startCall?: number;
  endCall?: number;
  /** Skipped calls in a row per branch before one is forced (default 0: no limit); DBCache counts them as cache-dit does. */
  maxConsecutive?: number;
  /** TeaCache: the rescaling polynomial, highest power first (numpy.poly1d order). */
  coefficients?: number[];
  /** TeaCache: the indicator, the time embedding "e" (default) or its projection "e0" (use_ret_steps). */
  indicator?: 'e' | 'e0';
  /** DBCache: the first blocks, always run, whose residual decides (cache-dit's Fn_compute_blocks, default 8, >= 1). */
  fnBlocks?: number;
  /** DBCache: the last blocks, always run (Bn_compute_blocks, default 0). fnBlocks + bnBlocks <= the transformer's blocks. */
  bnBlocks?: number;
  /** DBCache: steps [0, warmupSteps) of each expert whose index is a multiple of warmupInterval always compute (defaults 8 and 1). */
  warmupSteps?: number;
  warmupInterval?: number;
  /** DBCache: cached steps per branch before every later call computes (default -1: no limit). */
  maxCachedSteps?: number;
}

export interface NativeDenoiseOptions {
  /** The (high-noise) transformer, and the low-noise expert of a Wan2.2 A14B pair. */
  transformer: NativeTransformer;
  transformer2?: NativeTransformer | null;
  scheduler: NativeSchedulerConfig;
  steps: number;
  shift: number;
  /** An explicit schedule (one sigma per step, strictly decreasing in (0, 1]) instead of steps/shift. */
  sigmas?: number[];
  /** Classifier-free guidance of the (high-noise) transformer; <= 1 runs one pass per step. */
  guidanceScale: number;
  /** Guidance of the low-noise expert (default guidanceScale). */
  guidanceScale2?: number;
  /** boundary_ratio x num_train_timesteps: the high-noise expert runs while t >= this. */
  boundaryTimestep?: number;
  /** The initial noise [B, C, F, H, W]. */
  latents: NativeTensor;
  promptEmbeds: NativeTensor;
  /** Absent: no guidance. */
  negativeEmbeds?: NativeTensor | null;
  /** CLIP image features (Wan2.1 I2V). */
  contextImage?: NativeTensor | null;
  /** Wan2.2 I2V/FLF2V: [B, 4 + C, F, H, W] mask and condition latents, concatenated after the latents. */
  channelCondition?: NativeTensor | null;
  /** TI2V image-to-video: the normalised latent of the first frame [B, C, 1, H, W], kept clean. */
  firstFrameCondition?: NativeTensor | null;
  /** TI2V (expand_timesteps): one timestep per token. */
  perTokenTimesteps?: boolean;
  /** Return the latents after every step (conformance, debugging). */
  recordSteps?: boolean;
  cache?: NativeStepCache | null;
  /** Steps (0-based) whose clean-latent prediction x0 = x_t - sigma_t * v the result keeps (`previews`). */
  previewSteps?: number[];
  /** Called on the JS thread after every step (a throwing listener does not stop the loop). */
  onStep?: (event: NativeStepEvent) => void;
  /** Set element 0 (Atomics.store) to stop the loop before its next transformer block: runDenoise rejects with E_CANCELLED. */
  cancelFlag?: Int32Array;
}

export interface NativeStepEvent {
  index: number;
  total: number;
  timestep: number;
  /** 0: transformer (high-noise), 1: transformer_2 (low-noise). */
  expert: number;
  /** Transformer passes this step took. */
  forwards: number;
  /** Of those, the passes that ran every block (the others used the step cache). */
  computed: number;
  ms: number;
}

export interface NativeDenoiseResult {
  latents: NativeTensor;
  timesteps: number[];
  /** 0: transformer (high-noise), 1: transformer_2 (low-noise), per step. */
  experts: number[];
  /** Transformer passes per step (2 with guidance). */
  forwards: number[];
  /** Passes per step that ran every block. */
  computed: number[];
  /** One entry per transformer call in call order (cond, then uncond, per step). */
  calls: { computed: boolean[]; accumulated: Float64Array };
  stepMs: number[];
  /** [steps x latents.numel] when recordSteps. */
  latentsPerStep?: Float32Array;
  /** The x0 predictions of the requested previewSteps that ran, in step order. */
  previews: Array<{ step: number; latents: NativeTensor }>;
}

export interface NativePipelineApi {
  /** The denoising loop, natively. */
  runDenoise(options: NativeDenoiseOptions): Promise<NativeDenoiseResult>;
  /** Drives a scheduler step by step over given model outputs on the addon's backend. Rejects with E_INVALID_ARGUMENT naming the bad field. */
  runScheduler(options: NativeSchedulerRunOptions): Promise<NativeSchedulerRun>;
  /**
   * `torch.randn(shape, generator=torch.Generator('cpu').manual_seed(seed))` in float32. Seeds from 0
   * to 2^64 - 1 (a bigint, or a number up to 2^53 - 1); throws E_INVALID_ARGUMENT otherwise.
   */
  randn(seed: bigint | number, shape: number[]): Float32Array;
}
