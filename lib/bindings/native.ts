// The typed contract of what the native addon exports. Nothing else in lib/ touches the addon
// untyped.
import type { TensorRef, TextEncoderConfig, TransformerConfig } from '../model/types.js';
import type { NativePipelineApi } from './native-pipeline.js';
import type { NativeRifeApi } from './native-rife.js';
import type { NativeVaeApi } from './native-vae.js';

export interface NativeTensor {
  data: Float32Array;
  shape: number[];
}

export interface NativeInfo {
  /** Backend the addon's models run on. */
  backend: 'cpu' | 'cuda';
  /** Matrix-product implementation behind linear layers, e.g. "openblas" or "portable (avx2+fma)". */
  gemm: string;
  device: string;
  threads: number;
  /** BLAS library the addon was linked against, null when it uses the portable kernel only. */
  blas: string | null;
  /** Whether this addon was built with the CUDA sources (cmake-js build). */
  cudaBuild: boolean;
  cudaDevices?: Array<{ name: string; computeCapability: string; memoryBytes: number }>;
  cudaError?: string | null;
  /** Why the addon runs on this backend (CPU-only build, WAN_VIDEO_DEVICE=cpu, no device, ...). */
  backendReason?: string;
  /** The CUDA backend's caching pool, bytes: handed out, largest handed out, cached for reuse. */
  deviceMemory?: { inUse: number; peak: number; cached: number };
}

/** The native side reads the transformer config and tensor refs exactly as lib/model plans them. */
export type NativeTransformerConfig = TransformerConfig;
export type NativeTensorSpec = Pick<TensorRef, 'name' | 'file' | 'offset' | 'length' | 'dtype' | 'shape' | 'scale'>;

export interface NativeTransformerInputs {
  /** Latents [B, C, F, H, W]. */
  hiddenStates: NativeTensor;
  /** [B], or [B, tokens] for per-token timesteps (Wan2.2 TI2V). */
  timestep: NativeTensor;
  /** Text embeddings [B, L, text_dim]. */
  encoderHiddenStates: NativeTensor;
  /** CLIP image features [B, Li, image_dim] (Wan2.1 I2V only). */
  encoderHiddenStatesImage?: NativeTensor;
}

export interface NativeTransformer {
  forward(
    inputs: NativeTransformerInputs,
    options?: { trace?: boolean },
  ): Promise<{ sample: NativeTensor; trace?: Record<string, NativeTensor> }>;
  /** Frees the weights (a forward in flight keeps them until it ends). */
  dispose(): void;
  readonly weightBytes: number;
  /**
   * Merges LoRA updates into the weights (W = base + sum scale * up @ down, or + scale * diff),
   * restoring the base of every weight a previous call patched first; an empty list restores the
   * base. Not to be called while a forward or a loop runs on this transformer.
   */
  applyLoras(set: { tensors: NativeTensorSpec[]; updates: NativeLoraUpdate[] }): Promise<{ targets: number; baseBytes: number; ms: number }>;
  /** Restores the base weights and frees their copies. */
  clearLoras(): Promise<void>;
  /** Bytes of base copies held for merged LoRAs. */
  readonly loraBaseBytes: number;
}

/** One LoRA merge step; `up`/`down`/`diff` name entries of the set's `tensors`. */
export interface NativeLoraUpdate {
  target: string;
  scale: number;
  up?: string;
  down?: string;
  diff?: string;
}

export interface NativeTextEncoder {
  /** ids and mask [B, L] (mask 1 for real tokens) -> last_hidden_state [B, L, d_model]. */
  encode(inputs: { ids: Int32Array; mask: Int32Array; shape: [number, number] }): Promise<NativeTensor>;
  /** Frees the weights (an encode in flight keeps them until it ends). */
  dispose(): void;
  readonly weightBytes: number;
}

export type NativeTextEncoderConfig = TextEncoderConfig;

export interface NativeAddon extends NativeVaeApi, NativePipelineApi, NativeRifeApi {
  info(): NativeInfo;
  loadTransformer(plan: { config: NativeTransformerConfig; tensors: NativeTensorSpec[] }): Promise<NativeTransformer>;
  /** Random weights for benchmarks (no checkpoint). */
  randomTransformer(config: NativeTransformerConfig, seed?: number): Promise<NativeTransformer>;
  loadTextEncoder(plan: { config: NativeTextEncoderConfig; tensors: NativeTensorSpec[] }): Promise<NativeTextEncoder>;
  /** Random weights for benchmarks; shareLayers gives every layer layer 0's tensors (same FLOPs, one layer's memory). */
  randomTextEncoder(config: NativeTextEncoderConfig, seed?: number, options?: { shareLayers?: boolean }): Promise<NativeTextEncoder>;
}
