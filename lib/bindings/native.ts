// The typed contract of what the native addon exports. Nothing else in lib/ touches the addon
// untyped.
//
// Every call that works on the backend (loads, forwards, encodes, the loop, VAE jobs, LoRA merges)
// runs on the addon's one job thread per device, in the order called; none blocks the JS thread or
// the libuv pool. Long calls take `cancelFlag`: an Int32Array (on a SharedArrayBuffer) whose
// element 0, once set with Atomics.store, makes the call reject with E_CANCELLED within about a
// second (between transformer blocks, steps, VAE chunks, text-encoder layers). A pipeline passes
// one flag per job to all of them.
import type { ImageEncoderConfig, TensorRef, TextEncoderConfig, TransformerConfig } from '../model/types.js';
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
  /**
   * The CUDA backend's caching pool, bytes: handed out, largest handed out, cached for reuse; and the
   * device's free and total memory as the driver reports them.
   */
  deviceMemory?: { inUse: number; peak: number; cached: number; free: number; total: number };
}

/** The native side reads the transformer config and tensor refs exactly as lib/model plans them. */
/** How much of a transformer lives on the device, as the memory plan decides (Backend::make_residency in
 * cpp/ops/backend.h; the CPU backend keeps every weight in host memory and ignores it). */
export interface NativeResidency {
  /** Blocks kept on the device; the rest stream from pinned host memory ahead of use (default: all). */
  residentBlocks?: number;
  /** One A14B expert on the device at a time: this one goes to host memory while the other runs. */
  swapExpert?: boolean;
  /** Loaded straight into host memory (the low-noise expert, brought in at the boundary). */
  parked?: boolean;
}

export type NativeTransformerConfig = TransformerConfig & NativeResidency;
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
    options?: { trace?: boolean; cancelFlag?: Int32Array },
  ): Promise<{ sample: NativeTensor; trace?: Record<string, NativeTensor> }>;
  /** Frees the weights (a forward in flight keeps them until it ends). */
  dispose(): void;
  readonly weightBytes: number;
  /**
   * Merges LoRA updates into the weights (W = base + sum scale * up @ down, or + scale * diff),
   * restoring the base of every weight a previous call patched first; an empty list restores the
   * base. Not to be called while a forward or a loop runs on this transformer.
   */
  applyLoras(set: { tensors: NativeTensorSpec[]; updates: NativeLoraUpdate[] }): Promise<{ targets: number; baseBytes: number; ms: number; widened: Record<string, number> }>;
  /** Restores the base weights and frees their copies. */
  clearLoras(): Promise<void>;
  /** Bytes of merged copies held beside the base weights for merged LoRAs. */
  readonly loraBaseBytes: number;
  /** The weight under a canonical name as the forward reads it, widened to float32 (a quantized
   * or narrow weight is dequantized by the backend): to check loading on its own. */
  readWeight(name: string): Promise<NativeTensor>;
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
  encode(inputs: { ids: Int32Array; mask: Int32Array; shape: [number, number] }, options?: { cancelFlag?: Int32Array }): Promise<NativeTensor>;
  /** Frees the weights (an encode in flight keeps them until it ends). */
  dispose(): void;
  readonly weightBytes: number;
}

export type NativeTextEncoderConfig = TextEncoderConfig;

export interface NativeImageEncoder {
  /**
   * pixel_values [B, C, S, S] (normalised) -> `penultimate` = hidden_states[-2] [B, tokens, hidden]
   * (what the Wan2.1 I2V transformer takes); with lastLayer also the last layer's output.
   */
  encode(inputs: { pixelValues: NativeTensor }, options?: { lastLayer?: boolean }): Promise<{ penultimate: NativeTensor; lastHiddenState?: NativeTensor }>;
  /** Frees the weights (an encode in flight keeps them until it ends). */
  dispose(): void;
  readonly weightBytes: number;
}

export type NativeImageEncoderConfig = ImageEncoderConfig;

export interface NativeAddon extends NativeVaeApi, NativePipelineApi, NativeRifeApi {
  info(): NativeInfo;
  loadTransformer(plan: { config: NativeTransformerConfig; tensors: NativeTensorSpec[] }): Promise<NativeTransformer>;
  /** Random weights for benchmarks (no checkpoint); matrixDtype BF16 hands the linear() weights to
   * the backend as bf16, as a bf16 checkpoint would. */
  randomTransformer(config: NativeTransformerConfig, seed?: number, options?: { matrixDtype?: 'F32' | 'BF16' }): Promise<NativeTransformer>;
  loadTextEncoder(plan: { config: NativeTextEncoderConfig; tensors: NativeTensorSpec[] }): Promise<NativeTextEncoder>;
  /** Random weights for benchmarks; shareLayers gives every layer layer 0's tensors (same FLOPs, one layer's memory). */
  randomTextEncoder(config: NativeTextEncoderConfig, seed?: number, options?: { shareLayers?: boolean; matrixDtype?: 'F32' | 'BF16' }): Promise<NativeTextEncoder>;
  /** The CLIP vision encoder of Wan2.1 I2V (lib/model/image-encoder-plan.ts). */
  loadImageEncoder(plan: { config: NativeImageEncoderConfig; tensors: NativeTensorSpec[] }): Promise<NativeImageEncoder>;
  randomImageEncoder(config: NativeImageEncoderConfig, seed?: number, options?: { shareLayers?: boolean }): Promise<NativeImageEncoder>;
  /** One stored tensor loaded as a linear() weight, read back widened to float32, and y = x @ W^T
   * through the backend's linear() when x [M, K] is given: checks dequantization on its own. */
  probeWeight(args: { tensor: NativeTensorSpec; x?: NativeTensor }): Promise<{ weight: NativeTensor; y?: NativeTensor }>;
  /** The CPU backend's opt-in bf16 dot products for loads and forwards after the call (what
   * WAN_VIDEO_CPU_PRECISION sets at start); returns the precision in effect ('f32' where the CPU
   * has no bf16 kernel or the backend is not the CPU one). Not the reference arithmetic. */
  setCpuPrecision(precision: 'bf16' | 'f32'): 'bf16' | 'f32';
  /** The CUDA backend's opt-in fp8 GEMM for fp8-e4m3 weights (what WAN_VIDEO_FP8_GEMM=1 sets at
   * start): the activations are quantized to e4m3 per tensor, ~2.6e-2 relative error per product,
   * not the reference arithmetic. Returns whether it is on: false on the CPU backend and on a
   * device without it (info().gemm then says why). */
  setFp8Gemm(on: boolean): boolean;
}
