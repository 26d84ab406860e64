// The typed plan that crosses the N-API boundary: the native side reads exactly these byte ranges
// and never parses JSON. Everything here is produced (and validated) by lib/model/.

/** Every stored dtype the runtime reads, with its block: `elems` consecutive elements of a row
 * stored in `bytes` bytes (one element for the scalar types). The GGUF block types are ggml's
 * (block_q8_0 ... block_q6_K); their blocks run along a tensor's last (torch) dimension. Anything
 * else in a checkpoint is an E_MODEL_FORMAT error. The native DType table mirrors this one. */
export const STORED_DTYPES = {
  F32: { elems: 1, bytes: 4 },
  F16: { elems: 1, bytes: 2 },
  BF16: { elems: 1, bytes: 2 },
  F8_E4M3: { elems: 1, bytes: 1 },
  Q8_0: { elems: 32, bytes: 34 },
  Q4_0: { elems: 32, bytes: 18 },
  Q4_1: { elems: 32, bytes: 20 },
  Q5_0: { elems: 32, bytes: 22 },
  Q5_1: { elems: 32, bytes: 24 },
  Q2_K: { elems: 256, bytes: 84 },
  Q3_K: { elems: 256, bytes: 110 },
  Q4_K: { elems: 256, bytes: 144 },
  Q5_K: { elems: 256, bytes: 176 },
  Q6_K: { elems: 256, bytes: 210 },
} as const satisfies Record<string, { elems: number; bytes: number }>;

export type StoredDType = keyof typeof STORED_DTYPES;

/** Bytes of `numel` elements of a stored dtype (whole blocks for a block type). */
export const storedBytes = (dtype: StoredDType, numel: number): number =>
  (numel / STORED_DTYPES[dtype].elems) * STORED_DTYPES[dtype].bytes;

/** One tensor to read: canonical (diffusers) name, where its bytes are, how to decode them. */
export interface TensorRef {
  /** Canonical diffusers name, e.g. `blocks.0.attn1.to_q.weight`. */
  name: string;
  /** Name as stored in the file (differs from `name` for original-layout files). */
  storedName: string;
  /** Absolute path of the .safetensors or .gguf file. */
  file: string;
  /** Absolute byte offset of the first byte in the file. */
  offset: number;
  /** Byte length (storedBytes(dtype, numel)). */
  length: number;
  dtype: StoredDType;
  shape: number[];
  /** Per-tensor dequantisation scale (ComfyUI fp8 "scaled" files: `<name>.scale_weight`). */
  scale?: number;
}

/** WanTransformer3DModel hyper-parameters, normalised from either config style or from weights. */
export interface TransformerConfig {
  patchSize: [number, number, number];
  numHeads: number;
  headDim: number;
  inChannels: number;
  outChannels: number;
  textDim: number;
  freqDim: number;
  ffnDim: number;
  numLayers: number;
  crossAttnNorm: boolean;
  eps: number;
  /** CLIP image feature width (Wan2.1 I2V), null when the model has no image embedder. */
  imageDim: number | null;
  /** Added K/V projection width for image tokens (Wan2.1 I2V), null otherwise. */
  addedKvProjDim: number | null;
  ropeMaxSeqLen: number;
  /** Learned position embedding of the image tokens (Wan2.1 FLF2V), null otherwise. */
  posEmbedSeqLen: number | null;
}

export type KeyLayout = 'diffusers' | 'original';

export type ModelVariant =
  | 'wan2.1-t2v-1.3b'
  | 'wan2.1-t2v-14b'
  | 'wan2.1-i2v-14b'
  | 'wan2.1-flf2v-14b'
  | 'wan2.2-t2v-a14b'
  | 'wan2.2-i2v-a14b'
  | 'wan2.2-ti2v-5b'
  | 'custom';

export interface VariantInfo {
  variant: ModelVariant;
  /** Which expert of a Wan2.2 A14B pair this transformer is, when it can be told. */
  expert?: 'high-noise' | 'low-noise' | 'unknown';
  /** One line for people: what was detected and from what. */
  description: string;
}

/** A transformer ready to hand to the native loader. */
export interface TransformerPlan {
  kind: 'transformer';
  /** Folder or file it came from, for messages. */
  source: string;
  layout: KeyLayout;
  config: TransformerConfig;
  variant: VariantInfo;
  tensors: TensorRef[];
  /** Distinct stored dtypes, for `info`. */
  dtypes: StoredDType[];
}

/** UMT5EncoderModel hyper-parameters (the Wan text encoder), normalised from the HF config, the
 * official T5Encoder config, or the weights. */
export interface TextEncoderConfig {
  vocabSize: number;
  dModel: number;
  /** Width of one attention head; q/k/v project dModel -> numHeads * dKv. */
  dKv: number;
  numHeads: number;
  dFf: number;
  numLayers: number;
  /** Relative position buckets (rows of each layer's relative_attention_bias). */
  numBuckets: number;
  /** Relative distance past which buckets are all the same. */
  maxDistance: number;
  /** RMS norm epsilon. */
  eps: number;
  /** The feed-forward is gated GELU (tanh approximation): wo(gelu_new(wi_0 x) * wi_1 x). Always true for UMT5. */
  gatedGelu: true;
}

/** A UMT5 text encoder ready to hand to the native loader. Tensor names are UMT5EncoderModel's. */
export interface TextEncoderPlan {
  kind: 'text_encoder';
  /** Folder or file it came from, for messages. */
  source: string;
  /** 'diffusers': stored under the Hugging Face UMT5EncoderModel names; 'original': the official Wan T5Encoder names. */
  layout: KeyLayout;
  config: TextEncoderConfig;
  tensors: TensorRef[];
  /** Distinct stored dtypes, for `info`. */
  dtypes: StoredDType[];
}

/** AutoencoderKLWan hyper-parameters (both Wan VAEs), normalised from the diffusers config.json or
 * inferred from the weights. */
export interface VaeConfig {
  /** Encoder width of the first level. */
  baseDim: number;
  /** Decoder width of its last level (Wan2.2 decodes wider than it encodes); baseDim when the config says null. */
  decoderBaseDim: number;
  /** Latent channels. */
  zDim: number;
  dimMult: number[];
  numResBlocks: number;
  /** Per encoder level but the last: whether it halves the frame count (the reference's spelling). */
  temperalDownsample: boolean[];
  /** Wan2.2: residual down/up levels with parameter-free shortcuts. */
  isResidual: boolean;
  /** Channels into the encoder's first conv and out of the decoder's last (12 for Wan2.2: 2x2 RGB patches). */
  inChannels: number;
  outChannels: number;
  /** Pixels per side of a patch folded into channels; 1 when none. */
  patchSize: number;
  /** Pixels per latent pixel, frames per latent frame (after the first). */
  scaleFactorSpatial: number;
  scaleFactorTemporal: number;
  /** Per-channel statistics the pipelines normalise latents with; null when unknown. */
  latentsMean: number[] | null;
  latentsStd: number[] | null;
}

/** Which Wan VAE a config describes. */
export type VaeVersion = 'wan2.1' | 'wan2.2' | 'custom';

/** Which halves of the VAE to load: a text-to-video pipeline only decodes. */
export type VaeParts = 'both' | 'encoder' | 'decoder';

/** A Wan VAE ready to hand to the native loader. Tensor names are diffusers' AutoencoderKLWan names. */
export interface VaePlan {
  kind: 'vae';
  /** Folder or file it came from, for messages. */
  source: string;
  layout: KeyLayout;
  config: VaeConfig;
  version: VaeVersion;
  parts: VaeParts;
  tensors: TensorRef[];
  /** Distinct stored dtypes, for `info`. */
  dtypes: StoredDType[];
}

/** CLIPVisionModel hyper-parameters (Wan2.1 I2V's image encoder: ViT-H/14), from the transformers
 * config.json or inferred from the weights. */
export interface ImageEncoderConfig {
  hiddenSize: number;
  intermediateSize: number;
  numHeads: number;
  numLayers: number;
  patchSize: number;
  imageSize: number;
  numChannels: number;
  /** LayerNorm epsilon. */
  eps: number;
}

/** The fields of the CLIP image processor the image encoder's input is prepared with. */
export interface ImageProcessorConfig {
  shortestEdge: number;
  cropHeight: number;
  cropWidth: number;
  doCenterCrop: boolean;
  rescaleFactor: number;
  mean: [number, number, number];
  std: [number, number, number];
  resample: 'lanczos' | 'bicubic';
}

/** A CLIP vision encoder ready to hand to the native loader. Tensor names are transformers'
 * CLIPVisionModel names without the `vision_model.` prefix. */
export interface ImageEncoderPlan {
  kind: 'image_encoder';
  /** Folder or file it came from, for messages. */
  source: string;
  /** 'diffusers': transformers names; 'original': open_clip or the official Wan names. */
  layout: KeyLayout;
  config: ImageEncoderConfig;
  /** How images are prepared for it (`image_processor/preprocessor_config.json`, or OpenAI CLIP's). */
  processor: ImageProcessorConfig;
  /** Where `processor` came from, for messages. */
  processorSource: string;
  tensors: TensorRef[];
  /** Stored tensors the encoder does not use (post_layernorm, the projection, a text tower). */
  ignored: string[];
  dtypes: StoredDType[];
}
