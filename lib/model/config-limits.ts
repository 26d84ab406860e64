// The plausible range of every config.json field this runtime reads, one table per config schema.
// The zod schemas take their number fields from these tables, so a field's range is declared here
// and nowhere else, and its error message ("must be an integer from 1 to 256") is derived from it.
//
// The ranges are generous (several times the largest released Wan 2.1 / 2.2 model: the 14B
// transformer's 40 layers of width 5120 with 40 heads and ffn 13824, the 5B TI2V's 48 latent
// channels, UMT5-XXL's 24 layers of d_model 4096 over a 256384-token vocabulary, the ViT-H/14 image
// encoder) but finite: a config claiming 1e9 layers would otherwise make the planner enumerate a
// billion blocks' tensors before the weights could disagree. Each table has a cap on the parameter
// count its fields imply together, since fields each in range can still multiply into a model no
// machine holds.

import { z } from 'zod';
import { ModelFormatError } from '../errors.js';

export interface Limit {
  min: number;
  max: number;
  /** Integers only (sizes, counts); otherwise any finite number, min exclusive (eps, shifts). */
  integer: boolean;
}

const int = (min: number, max: number): Limit => ({ min, max, integer: true });
/** A positive real up to max: (0, max]. */
const pos = (max: number): Limit => ({ min: 0, max, integer: false });

/** How a limit reads in a message: "an integer from 1 to 256", "a number in (0, 1]". */
export function describeLimit(l: Limit): string {
  return l.integer ? `an integer from ${l.min} to ${l.max}` : `a number in (${l.min}, ${l.max}]`;
}

/** The zod number for a field of a table; its messages state the allowed range. */
export function limited(l: Limit): z.ZodNumber {
  const e = { error: `must be ${describeLimit(l)}` };
  const n = z.number(e);
  return l.integer ? n.int(e).min(l.min, e).max(l.max, e) : n.gt(l.min, e).lte(l.max, e);
}

/** The same, or null. */
export function limitedOrNull(l: Limit) {
  const e = { error: `must be null or ${describeLimit(l)}` };
  const n = z.number(e);
  return (l.integer ? n.int(e).min(l.min, e).max(l.max, e) : n.gt(l.min, e).lte(l.max, e)).nullable();
}

/** Is v inside l (for values that do not come through zod: those read off the weights). */
export const withinLimit = (v: number, l: Limit): boolean =>
  Number.isFinite(v) && (l.integer ? Number.isInteger(v) && v >= l.min : v > l.min) && v <= l.max;

/** The transformer (diffusers WanTransformer3DModel and the official WanModel spellings). */
export const TRANSFORMER_LIMITS = {
  num_layers: int(1, 256),
  num_heads: int(1, 512),
  head_dim: int(1, 1024),
  /** dim = num_heads x head_dim (the official config states it). */
  dim: int(1, 65536),
  in_channels: int(1, 1024),
  out_channels: int(1, 1024),
  text_dim: int(1, 65536),
  freq_dim: int(1, 65536),
  ffn_dim: int(1, 262144),
  image_dim: int(1, 65536),
  added_kv_proj_dim: int(1, 65536),
  rope_max_seq_len: int(1, 1 << 20),
  pos_embed_seq_len: int(1, 65536),
  text_len: int(1, 65536),
  patch: int(1, 64),
  eps: pos(1),
} as const satisfies Record<string, Limit>;

/** The VAE (diffusers AutoencoderKLWan). */
export const VAE_LIMITS = {
  base_dim: int(1, 4096),
  decoder_base_dim: int(1, 4096),
  z_dim: int(1, 1024),
  dim_mult: int(1, 64),
  /** Entries of dim_mult (levels), temperal_downsample, latents_mean / latents_std. */
  levels: int(1, 8),
  num_res_blocks: int(1, 64),
  in_channels: int(1, 1024),
  out_channels: int(1, 1024),
  patch_size: int(1, 16),
  /** latents_mean / latents_std entries: one per latent channel. */
  latent_stats: int(0, 1024),
} as const satisfies Record<string, Limit>;

/** The UMT5 text encoder (HF UMT5Config and the official T5Encoder spellings). */
export const TEXT_ENCODER_LIMITS = {
  vocab_size: int(1, 1 << 20),
  d_model: int(1, 65536),
  d_kv: int(1, 4096),
  /** dim_attn = num_heads x d_kv (the official config states it). */
  dim_attn: int(1, 65536),
  d_ff: int(1, 262144),
  num_heads: int(1, 1024),
  num_layers: int(1, 256),
  relative_attention_num_buckets: int(1, 4096),
  relative_attention_max_distance: int(1, 1 << 20),
  layer_norm_epsilon: pos(1),
} as const satisfies Record<string, Limit>;

/** The CLIP vision encoder (transformers CLIPVisionConfig). */
export const IMAGE_ENCODER_LIMITS = {
  hidden_size: int(1, 16384),
  intermediate_size: int(1, 65536),
  num_attention_heads: int(1, 256),
  num_hidden_layers: int(1, 256),
  patch_size: int(1, 1024),
  image_size: int(1, 8192),
  num_channels: int(1, 16),
  layer_norm_eps: pos(1),
} as const satisfies Record<string, Limit>;

/** The CLIP image processor (transformers CLIPImageProcessor's preprocessor_config.json): ViT-H/14
 * resizes to 224 and crops 224x224. */
export const IMAGE_PROCESSOR_LIMITS = {
  /** size.shortest_edge, crop_size.height / width. */
  pixels: int(1, 8192),
  rescale_factor: pos(1),
  /** image_mean entries, and image_std entries (which must also not be 0). */
  channel_stat: { min: -1000, max: 1000, integer: false },
} as const satisfies Record<string, Limit>;

/** The diffusers flow-matching schedulers' scheduler_config.json fields that take numbers. */
export const SCHEDULER_LIMITS = {
  num_train_timesteps: int(1, 100000),
  flow_shift: pos(1000),
  shift: pos(1000),
  /** disable_corrector's step indices, and how many it lists. */
  disable_corrector_step: int(0, 100000),
  disable_corrector_length: int(0, 10000),
} as const satisfies Record<string, Limit>;

/** RIFE has no config file: its widths are read off the weights, and held to these. */
export const RIFE_LIMITS = {
  width: int(1, 4096),
} as const satisfies Record<string, Limit>;

/** Parameter counts a config may imply: the 14B transformer and UMT5-XXL (5.7B) are far below. */
export const MAX_PARAMS = {
  transformer: 1e11,
  vae: 2e10,
  textEncoder: 1e11,
  imageEncoder: 2e10,
} as const;

/** Refuse a config whose fields, each in range, together imply an implausible parameter count. */
export function checkParamTotal(kind: keyof typeof MAX_PARAMS, params: number, fields: string, file: string, shown = file): void {
  if (!(params <= MAX_PARAMS[kind])) {
    throw new ModelFormatError(
      `${shown}: fields ${fields} together imply about ${params.toExponential(2)} parameters, more than the ${MAX_PARAMS[kind].toExponential(0)} a plausible Wan ${kind} has`,
      { file },
    );
  }
}
