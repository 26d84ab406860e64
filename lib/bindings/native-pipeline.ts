// The addon's pipeline functions: schedulers and torch-compatible noise (the denoising loop joins
// them here when it lands).
import type { NativeTensor } from './native.js';

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
  /** 1 to 100 (ignored when `sigmas` is given). */
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

export interface NativePipelineApi {
  /** Drives a scheduler step by step over given model outputs on the addon's backend. Rejects with E_INVALID_ARGUMENT naming the bad field. */
  runScheduler(options: NativeSchedulerRunOptions): Promise<NativeSchedulerRun>;
  /**
   * `torch.randn(shape, generator=torch.Generator('cpu').manual_seed(seed))` in float32. Seeds from 0
   * to 2^64 - 1 (a bigint, or a number up to 2^53 - 1); throws E_INVALID_ARGUMENT otherwise.
   */
  randn(seed: bigint | number, shape: number[]): Float32Array;
}
