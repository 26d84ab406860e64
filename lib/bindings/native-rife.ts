// The addon's RIFE functions: load an interpolator from a plan (or random weights for benchmarks),
// interpolate runs of consecutive frames.
import type { RifeConfig } from '../model/rife-plan.js';
import type { TensorRef } from '../model/types.js';

export interface NativeRifeResult {
  /** [(K - 1) * T, H, W, 3]: for each consecutive pair, its frames at each timestep. RGB bytes for
   * format 'rgb8' (rounded to nearest), floats in [0, 1] for 'float'. */
  frames: Buffer | Float32Array;
  /** debug: the last block's flow [(K - 1) * T, H, W, 4] (img0's x, y then img1's, in pixels). */
  flow?: Float32Array;
  /** debug: the blend mask before its sigmoid [(K - 1) * T, H, W, 1]. */
  mask?: Float32Array;
  seconds: number;
}

export interface NativeRife {
  /**
   * frames: K >= 2 consecutive frames [K, H, W, 3], RGB bytes or floats in [0, 1]; timesteps in
   * [0, 1] (0 and 1 as the reference computes them, not copies of the inputs). Runs off the JS thread.
   */
  interpolate(
    frames: { data: Uint8Array | Float32Array; shape: [number, number, number, number] },
    options: {
      timesteps: number[];
      format?: 'rgb8' | 'float';
      debug?: boolean;
      /** Pad frames to a multiple of this (a multiple of padMultiple; Practical-RIFE's video script uses 128). */
      padMultiple?: number;
    },
  ): Promise<NativeRifeResult>;
  /** Frees the weights (an interpolation in flight keeps them until it ends). */
  dispose(): void;
  readonly weightBytes: number;
  /** Frames are padded to a multiple of this before the network (64 for five blocks). */
  readonly padMultiple: number;
}

export type NativeRifeTensorSpec = Pick<TensorRef, 'name' | 'file' | 'offset' | 'length' | 'dtype' | 'shape'>;

export interface NativeRifeApi {
  loadRife(plan: { config: RifeConfig; tensors: NativeRifeTensorSpec[] }): Promise<NativeRife>;
  /** Random weights for benchmarks (no checkpoint). */
  randomRife(config: RifeConfig, seed?: number): Promise<NativeRife>;
}
