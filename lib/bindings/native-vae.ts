// The addon's VAE functions: load (from a plan) or random weights, streaming decode, encode.
import type { TensorRef, VaeConfig } from '../model/types.js';

interface Tensor {
  data: Float32Array;
  shape: number[];
}

/** What the native loader reads: the planned config, plus which halves to build. */
export interface NativeVaeConfig extends VaeConfig {
  withEncoder?: boolean;
  withDecoder?: boolean;
}

/** One chunk of decoded frames (one latent frame's worth: 1 frame for the first, 4 after). */
export interface NativeVaeChunk {
  /** Index of the video in the batch. */
  sample: number;
  /** Index of this chunk's first frame in its video. */
  frameStart: number;
  frames: number;
  height: number;
  width: number;
  /** format 'rgb8': RGB bytes [frames, height, width, 3], handed over without a copy where the runtime allows. */
  rgb?: Buffer;
  /** format 'float': [frames, height, width, 3] in [-1, 1]. */
  data?: Float32Array;
}

export interface NativeVaeDecodeOptions {
  /** The latents are the diffusion model's normalised ones: map them back with latents_mean/std first. */
  normalized?: boolean;
  format?: 'rgb8' | 'float';
  /** Set element 0 (Atomics.store) to stop before the next chunk: `done` rejects with E_CANCELLED. */
  cancelFlag?: Int32Array;
}

export interface NativeVaeDecodeJob {
  /** Settles when every chunk was handed over (and every promise the callback returned settled). */
  done: Promise<{ chunks: number; frames: number; seconds: number }>;
  /** Stops before the next chunk (the same token as cancelFlag); `done` rejects with E_CANCELLED. */
  cancel(): void;
}

export interface NativeVae {
  /** latents [B, z, T, h, w]; onChunk gets each chunk as soon as it is decoded. If it returns a
   * promise, the decoder runs at most one chunk ahead of it, and meanwhile the device thread serves
   * other jobs. */
  decode(
    latents: Tensor,
    options: NativeVaeDecodeOptions,
    onChunk: (chunk: NativeVaeChunk) => void | Promise<unknown>,
  ): NativeVaeDecodeJob;
  /** video [B, 3, T, H, W] in [-1, 1] -> posterior mean and log-variance [B, z, T', H', W']. */
  encode(video: Tensor, options?: { cancelFlag?: Int32Array }): Promise<{ mean: Tensor; logvar: Tensor }>;
  /** Frees the weights (a job in flight keeps them until it ends). */
  dispose(): void;
  readonly weightBytes: number;
}

export type NativeVaeTensorSpec = Pick<TensorRef, 'name' | 'file' | 'offset' | 'length' | 'dtype' | 'shape' | 'scale'>;

export interface NativeVaeApi {
  loadVae(plan: { config: NativeVaeConfig; tensors: NativeVaeTensorSpec[] }): Promise<NativeVae>;
  /** Random weights for benchmarks (no checkpoint). */
  randomVae(config: NativeVaeConfig, seed?: number): Promise<NativeVae>;
}
