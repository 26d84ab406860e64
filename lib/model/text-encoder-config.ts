// UMT5 text encoder configuration: the Hugging Face UMT5EncoderModel config.json (diffusers
// `text_encoder/`), the official repo's T5Encoder config, or (for a bare .safetensors) the weights.
// All normalise to TextEncoderConfig.

import { z } from 'zod';
import { ModelFormatError } from '../errors.js';
import type { TextEncoderConfig } from './types.js';
import { type ConfigStyle, readConfigJson, zodFailure } from './config.js';
import { fmtShape } from './safetensors.js';
import { TEXT_ENCODER_LIMITS, checkParamTotal, limited } from './config-limits.js';

export interface LoadedTextEncoderConfig {
  config: TextEncoderConfig;
  style: ConfigStyle;
}

/** The official T5Encoder's `_class`. */
export const T5_ENCODER_CLASS = 'wan.modules.t5.T5Encoder';
/** What UMT5 uses where a config does not say (HF UMT5Config defaults; the official code's constants). */
export const UMT5_DEFAULTS = { numBuckets: 32, maxDistance: 128, eps: 1e-6 } as const;

const L = TEXT_ENCODER_LIMITS;

// HF UMT5Config has defaults for the sizes too (a 512-wide toy); a defaulted size would describe a
// different model than the weights, so the sizes are required and only the rest is defaulted.
const HfConfigSchema = z.looseObject({
  model_type: z.literal('umt5', {
    error: 'must be "umt5" (T5 keeps one relative position bias in the first layer; UMT5, which Wan uses, has one per layer)',
  }),
  vocab_size: limited(L.vocab_size),
  d_model: limited(L.d_model),
  d_kv: limited(L.d_kv),
  d_ff: limited(L.d_ff),
  num_heads: limited(L.num_heads),
  num_layers: limited(L.num_layers),
  relative_attention_num_buckets: limited(L.relative_attention_num_buckets).default(UMT5_DEFAULTS.numBuckets),
  relative_attention_max_distance: limited(L.relative_attention_max_distance).default(UMT5_DEFAULTS.maxDistance),
  layer_norm_epsilon: limited(L.layer_norm_epsilon).default(UMT5_DEFAULTS.eps),
  feed_forward_proj: z.literal('gated-gelu', { error: 'must be "gated-gelu" (the feed-forward of the UMT5 encoder Wan uses)' }).optional(),
  dense_act_fn: z.literal('gelu_new', { error: 'must be "gelu_new" (the tanh-approximated GELU of the UMT5 encoder Wan uses)' }).optional(),
  is_gated_act: z.literal(true, { error: 'must be true (the UMT5 feed-forward is gated)' }).optional(),
});

const OriginalConfigSchema = z.looseObject({
  _class: z.literal(T5_ENCODER_CLASS, { error: `must be "${T5_ENCODER_CLASS}"` }).optional(),
  vocab: limited(L.vocab_size),
  dim: limited(L.d_model),
  dim_attn: limited(L.dim_attn),
  dim_ffn: limited(L.d_ff),
  num_heads: limited(L.num_heads),
  num_layers: limited(L.num_layers),
  num_buckets: limited(L.relative_attention_num_buckets),
  shared_pos: z.literal(false, {
    error: 'must be false (UMT5 has a relative position bias in every layer; a shared one is the T5 layout, which Wan does not use)',
  }),
});

/** Normalise a parsed text encoder config.json of either style; `shown` names the file in messages. */
export function parseTextEncoderConfig(json: unknown, file: string, shown = file): LoadedTextEncoderConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ModelFormatError(`${shown}: expected a JSON object`, { file });
  }
  const obj = json as Record<string, unknown>;
  if ('_class' in obj || 'dim_attn' in obj) {
    const r = OriginalConfigSchema.safeParse(obj);
    if (!r.success) throw zodFailure(file, shown, json, r.error);
    const c = r.data;
    if (c.dim_attn % c.num_heads !== 0) {
      throw new ModelFormatError(`${shown}: field "dim_attn" ${c.dim_attn} must be divisible by field "num_heads" ${c.num_heads}`, { file });
    }
    return checkedTextEncoder(file, shown, {
      style: 'original',
      config: {
        vocabSize: c.vocab, dModel: c.dim, dKv: c.dim_attn / c.num_heads, numHeads: c.num_heads, dFf: c.dim_ffn,
        numLayers: c.num_layers, numBuckets: c.num_buckets, maxDistance: UMT5_DEFAULTS.maxDistance, eps: UMT5_DEFAULTS.eps,
        gatedGelu: true,
      },
    });
  }
  const r = HfConfigSchema.safeParse(obj);
  if (!r.success) throw zodFailure(file, shown, json, r.error);
  const c = r.data;
  return checkedTextEncoder(file, shown, {
    style: 'diffusers',
    config: {
      vocabSize: c.vocab_size, dModel: c.d_model, dKv: c.d_kv, numHeads: c.num_heads, dFf: c.d_ff, numLayers: c.num_layers,
      numBuckets: c.relative_attention_num_buckets, maxDistance: c.relative_attention_max_distance, eps: c.layer_norm_epsilon,
      gatedGelu: true,
    },
  });
}

/** About how many parameters a UMT5 encoder config implies (embedding, attention, gated FFN, biases). */
export function textEncoderParamCount(c: TextEncoderConfig): number {
  const inner = c.numHeads * c.dKv;
  return c.vocabSize * c.dModel + c.numLayers * (4 * c.dModel * inner + 3 * c.dModel * c.dFf + c.numBuckets * c.numHeads + 2 * c.dModel);
}

function checkedTextEncoder(file: string, shown: string, loaded: LoadedTextEncoderConfig): LoadedTextEncoderConfig {
  const c = loaded.config;
  const d = (f: TextEncoderConfigField) => describeTextEncoderField(f, c, loaded.style);
  if (!(c.numHeads * c.dKv <= L.dim_attn.max)) {
    throw new ModelFormatError(`${shown}: ${d('inner')} is wider than the ${L.dim_attn.max} allowed`, { file });
  }
  checkParamTotal('textEncoder', textEncoderParamCount(c), `${d('vocabSize')}, ${d('dModel')}, ${d('numLayers')}, ${d('dFf')}, ${d('inner')}`, file, shown);
  return loaded;
}

/** Read and normalise a text encoder config.json; `shown` names it in messages. */
export async function loadTextEncoderConfig(file: string, shown = file): Promise<LoadedTextEncoderConfig> {
  return parseTextEncoderConfig(await readConfigJson(file, shown), file, shown);
}

/** Config fields a tensor shape follows from; `inner` is numHeads x dKv (the q/k/v width). */
export type TextEncoderConfigField = Exclude<keyof TextEncoderConfig, 'gatedGelu'> | 'inner';

/** How each style spells a field, with its value, for messages that point at the field to check. */
export function describeTextEncoderField(field: TextEncoderConfigField, c: TextEncoderConfig, style: ConfigStyle): string {
  if (style === 'original') {
    const original: Record<TextEncoderConfigField, string> = {
      vocabSize: `vocab ${c.vocabSize}`, dModel: `dim ${c.dModel}`, inner: `dim_attn ${c.numHeads * c.dKv}`,
      dKv: `dim_attn ${c.numHeads * c.dKv}`, numHeads: `num_heads ${c.numHeads}`, dFf: `dim_ffn ${c.dFf}`,
      numLayers: `num_layers ${c.numLayers}`, numBuckets: `num_buckets ${c.numBuckets}`,
      maxDistance: `max distance ${c.maxDistance}`, eps: `eps ${c.eps}`,
    };
    return original[field];
  }
  const hf: Record<TextEncoderConfigField, string> = {
    vocabSize: `vocab_size ${c.vocabSize}`, dModel: `d_model ${c.dModel}`, inner: `num_heads ${c.numHeads} x d_kv ${c.dKv}`,
    dKv: `d_kv ${c.dKv}`, numHeads: `num_heads ${c.numHeads}`, dFf: `d_ff ${c.dFf}`, numLayers: `num_layers ${c.numLayers}`,
    numBuckets: `relative_attention_num_buckets ${c.numBuckets}`, maxDistance: `relative_attention_max_distance ${c.maxDistance}`,
    eps: `layer_norm_epsilon ${c.eps}`,
  };
  return hf[field];
}

// ---- inference from weights ------------------------------------------------------------------

const EMBED = 'encoder.embed_tokens.weight';
const Q0 = 'encoder.block.0.layer.0.SelfAttention.q.weight';
const BIAS0 = 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight';
const WI0 = 'encoder.block.0.layer.1.DenseReluDense.wi_0.weight';

/** Config of a bare .safetensors (canonical UMT5EncoderModel names) with no config.json beside it.
 * Sizes come from the weights; the relative position range and the norm epsilon are UMT5's.
 * `file` goes into errors as the file, `shown` names it in messages. */
export function inferTextEncoderConfig(shapes: ReadonlyMap<string, readonly number[]>, file = 'weights', shown = file): TextEncoderConfig {
  const fail = (msg: string, tensor: string): never => {
    throw new ModelFormatError(`${shown}: ${msg}`, { file, tensor });
  };
  const need = (tensor: string, what: string, dims: string): readonly number[] => {
    const s = shapes.get(tensor);
    if (s === undefined) return fail(`cannot infer ${what} without a config.json: tensor "${tensor}" is missing`, tensor);
    if (s.length !== 2) fail(`tensor "${tensor}" has shape ${fmtShape(s)}; expected 2 dims ${dims}`, tensor);
    return s;
  };
  const [vocabSize, dModel] = need(EMBED, 'vocab_size and d_model', '[vocab_size, d_model]');

  const indices = new Set<number>();
  for (const name of shapes.keys()) {
    const m = /^encoder\.block\.(\d+)\./.exec(name);
    if (m) indices.add(Number(m[1]));
  }
  if (indices.size === 0) fail('cannot infer num_layers without a config.json: no "encoder.block.N." tensors', Q0);
  const max = Math.max(...indices);
  for (let i = 0; i <= max; i++) {
    if (!indices.has(i)) fail(`block "encoder.block.${i}" is missing (blocks must run 0..${max} without gaps)`, `encoder.block.${i}`);
  }
  const [dFf] = need(WI0, 'd_ff', '[d_ff, d_model]');
  const [numBuckets, numHeads] = need(BIAS0, 'relative_attention_num_buckets and num_heads', '[num_buckets, num_heads]');
  const [inner] = need(Q0, 'd_kv', '[num_heads * d_kv, d_model]');
  if (inner % numHeads !== 0) fail(`tensor "${Q0}" has ${inner} rows, not a multiple of the ${numHeads} heads of "${BIAS0}"`, Q0);
  return {
    vocabSize, dModel, dKv: inner / numHeads, numHeads, dFf, numLayers: indices.size, numBuckets,
    maxDistance: UMT5_DEFAULTS.maxDistance, eps: UMT5_DEFAULTS.eps, gatedGelu: true,
  };
}
