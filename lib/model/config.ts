// Transformer configuration: the diffusers config.json, the official repo's WanModel config.json,
// or (for a bare .safetensors) what the weights themselves say. All normalise to TransformerConfig.

import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ModelFormatError } from '../errors.js';
import type { TransformerConfig } from './types.js';
import { fmtShape } from './safetensors.js';
import { TRANSFORMER_LIMITS, checkParamTotal, describeLimit, limited, limitedOrNull } from './config-limits.js';

export type ConfigStyle = 'diffusers' | 'original' | 'inferred';

export interface LoadedTransformerConfig {
  config: TransformerConfig;
  style: ConfigStyle;
  /** Fields the file did not state and that were defaulted; the weights may settle them. */
  assumed: (keyof TransformerConfig)[];
}

const L = TRANSFORMER_LIMITS;
const patchSize = () => z.tuple([limited(L.patch), limited(L.patch), limited(L.patch)], { error: `must be [t, h, w], each ${describeLimit(L.patch)}` });
const bool = () => z.boolean({ error: 'must be true or false' });

// diffusers fills absent fields from WanTransformer3DModel.__init__; we do the same for the fields
// whose default is not a size, and require the sizes, since a defaulted size would mean a 14B model.
const DiffusersConfigSchema = z.looseObject({
  _class_name: z.literal('WanTransformer3DModel', { error: 'must be "WanTransformer3DModel"' }).optional(),
  patch_size: patchSize().default([1, 2, 2]),
  num_attention_heads: limited(L.num_heads),
  attention_head_dim: limited(L.head_dim),
  in_channels: limited(L.in_channels),
  out_channels: limitedOrNull(L.out_channels).default(null),
  text_dim: limited(L.text_dim),
  freq_dim: limited(L.freq_dim),
  ffn_dim: limited(L.ffn_dim),
  num_layers: limited(L.num_layers),
  cross_attn_norm: bool().default(true),
  qk_norm: z
    .literal('rms_norm_across_heads', { error: 'must be "rms_norm_across_heads" (the only query/key norm Wan uses)' })
    .default('rms_norm_across_heads'),
  eps: limited(L.eps).default(1e-6),
  image_dim: limitedOrNull(L.image_dim).default(null),
  added_kv_proj_dim: limitedOrNull(L.added_kv_proj_dim).default(null),
  rope_max_seq_len: limited(L.rope_max_seq_len).default(1024),
  pos_embed_seq_len: limitedOrNull(L.pos_embed_seq_len).default(null),
});

const MODEL_TYPES = ['t2v', 'i2v', 'flf2v', 'ti2v'] as const;

const OriginalConfigSchema = z.looseObject({
  _class_name: z.literal('WanModel', { error: 'must be "WanModel"' }),
  model_type: z.enum(MODEL_TYPES, { error: `must be one of ${MODEL_TYPES.map((t) => `"${t}"`).join(', ')}` }),
  patch_size: patchSize().optional(),
  dim: limited(L.dim),
  num_heads: limited(L.num_heads),
  in_dim: limited(L.in_channels),
  out_dim: limited(L.out_channels),
  ffn_dim: limited(L.ffn_dim),
  freq_dim: limited(L.freq_dim),
  text_dim: limited(L.text_dim).optional(),
  num_layers: limited(L.num_layers),
  eps: limited(L.eps).default(1e-6),
  text_len: limited(L.text_len),
  cross_attn_norm: bool().optional(),
  qk_norm: z.literal(true, { error: 'must be true (Wan always normalises queries and keys)' }).optional(),
});

/** CLIP ViT-H/14 penultimate features: what every released Wan2.1 I2V/FLF2V image embedder takes. */
const CLIP_IMAGE_DIM = 1280;
/** FLF2V: 257 CLIP tokens for each of the first and last frame. */
const FLF2V_IMAGE_TOKENS = 257 * 2;

/** A config.json validation failure naming the first bad field and what it held. */
export function zodFailure(file: string, shown: string, json: unknown, error: z.ZodError): ModelFormatError {
  const issue = error.issues[0];
  const path = issue.path.map(String).join('.');
  let got: unknown = json;
  for (const k of issue.path) got = (got as Record<PropertyKey, unknown> | undefined)?.[k as PropertyKey];
  const gotText = got === undefined ? 'it is missing' : `got ${JSON.stringify(got)}`;
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem(s))` : '';
  return new ModelFormatError(`${shown}: field "${path}" ${issue.message} (${gotText})${more}`, { file });
}

/** Normalise a parsed config.json of either style; `shown` names the file in messages. */
export function parseTransformerConfig(json: unknown, file: string, shown = file): LoadedTransformerConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ModelFormatError(`${shown}: expected a JSON object`, { file });
  }
  const obj = json as Record<string, unknown>;
  const original = obj._class_name === 'WanModel' || (obj._class_name === undefined && 'dim' in obj && 'num_heads' in obj);
  if (original) {
    const r = OriginalConfigSchema.safeParse({ _class_name: 'WanModel', ...obj });
    if (!r.success) throw zodFailure(file, shown, json, r.error);
    if (r.data.dim % r.data.num_heads !== 0) {
      throw new ModelFormatError(`${shown}: field "dim" ${r.data.dim} must be divisible by field "num_heads" ${r.data.num_heads}`, { file });
    }
    const loaded = fromOriginal(r.data);
    checkTransformerTotals(loaded.config, 'original', file, shown);
    return loaded;
  }
  const r = DiffusersConfigSchema.safeParse(obj);
  if (!r.success) throw zodFailure(file, shown, json, r.error);
  const c = r.data;
  const config: TransformerConfig = {
    patchSize: c.patch_size,
    numHeads: c.num_attention_heads,
    headDim: c.attention_head_dim,
    inChannels: c.in_channels,
    outChannels: c.out_channels ?? c.in_channels,
    textDim: c.text_dim,
    freqDim: c.freq_dim,
    ffnDim: c.ffn_dim,
    numLayers: c.num_layers,
    crossAttnNorm: c.cross_attn_norm,
    eps: c.eps,
    imageDim: c.image_dim,
    addedKvProjDim: c.added_kv_proj_dim,
    ropeMaxSeqLen: c.rope_max_seq_len,
    posEmbedSeqLen: c.pos_embed_seq_len,
  };
  const assumed: (keyof TransformerConfig)[] = [];
  if (!('patch_size' in obj)) assumed.push('patchSize');
  if (!('cross_attn_norm' in obj)) assumed.push('crossAttnNorm');
  checkTransformerTotals(config, 'diffusers', file, shown);
  return { config, style: 'diffusers', assumed };
}

/** About how many parameters a transformer config implies (the attention, cross-attention and
 * feed-forward matrices of every block, the embedders and the head): big enough to bound, not exact. */
export function transformerParamCount(c: TransformerConfig): number {
  const D = c.numHeads * c.headDim;
  const patch = c.patchSize[0] * c.patchSize[1] * c.patchSize[2];
  const block = 8 * D * D + 2 * D * c.ffnDim + (c.addedKvProjDim ? 2 * D * c.addedKvProjDim : 0);
  const embed = D * c.inChannels * patch + c.textDim * D + D * D + c.freqDim * D + 7 * D * D + (c.imageDim ? c.imageDim * D + D * D : 0);
  return c.numLayers * block + embed + D * c.outChannels * patch;
}

function checkTransformerTotals(c: TransformerConfig, style: ConfigStyle, file: string, shown: string): void {
  const D = c.numHeads * c.headDim;
  const heads = style === 'original' ? 'num_heads' : 'num_attention_heads';
  if (!(D <= L.dim.max)) {
    throw new ModelFormatError(`${shown}: fields ${heads} ${c.numHeads} x attention_head_dim ${c.headDim} = ${D}, wider than the ${L.dim.max} allowed`, { file });
  }
  const width = style === 'original' ? `dim ${D}` : `${heads} ${c.numHeads} x attention_head_dim ${c.headDim}`;
  checkParamTotal(
    'transformer', transformerParamCount(c),
    `${configFieldName('numLayers', style)} ${c.numLayers}, ${width}, ${configFieldName('ffnDim', style)} ${c.ffnDim}`,
    file, shown,
  );
}

function fromOriginal(c: z.infer<typeof OriginalConfigSchema>): LoadedTransformerConfig {
  const assumed: (keyof TransformerConfig)[] = [];
  if (c.patch_size === undefined) assumed.push('patchSize');
  if (c.text_dim === undefined) assumed.push('textDim');
  if (c.cross_attn_norm === undefined) assumed.push('crossAttnNorm');
  // "i2v" is both Wan2.1 (CLIP image embedder, added K/V) and Wan2.2 A14B (neither): the config
  // cannot tell them apart, so these three always come from the weights when there are weights.
  const imageLike = c.model_type === 'i2v' || c.model_type === 'flf2v';
  if (imageLike) assumed.push('imageDim', 'addedKvProjDim', 'posEmbedSeqLen');
  const config: TransformerConfig = {
    patchSize: c.patch_size ?? [1, 2, 2],
    numHeads: c.num_heads,
    headDim: c.dim / c.num_heads,
    inChannels: c.in_dim,
    outChannels: c.out_dim,
    textDim: c.text_dim ?? 4096,
    freqDim: c.freq_dim,
    ffnDim: c.ffn_dim,
    numLayers: c.num_layers,
    crossAttnNorm: c.cross_attn_norm ?? true,
    eps: c.eps,
    imageDim: imageLike ? CLIP_IMAGE_DIM : null,
    addedKvProjDim: imageLike ? c.dim : null,
    ropeMaxSeqLen: 1024,
    posEmbedSeqLen: c.model_type === 'flf2v' ? FLF2V_IMAGE_TOKENS : null,
  };
  return { config, style: 'original', assumed };
}

/** Read and parse a JSON config file; `shown` names it in messages. */
export async function readConfigJson(file: string, shown = file): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'EISDIR' ? 'is a folder; expected a JSON file' : `cannot read (${(e as Error).message})`;
    throw new ModelFormatError(`${shown}: ${why}`, { file });
  }
  return parseJsonText(text, file, shown);
}

/** JSON.parse, with a syntax error as a ModelFormatError naming the file. */
export function parseJsonText(text: string, file: string, shown = file): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(`${shown}: not valid JSON (${(e as Error).message})`, { file });
  }
}

/** Read and normalise a config.json; `shown` names it in messages. */
export async function loadTransformerConfig(file: string, shown = file): Promise<LoadedTransformerConfig> {
  return parseTransformerConfig(await readConfigJson(file, shown), file, shown);
}

/** Config field names as each style spells them, for messages that point at the field to check. */
export function configFieldName(field: keyof TransformerConfig | 'dim', style: ConfigStyle): string {
  if (field === 'dim') return 'dim';
  const diffusers: Record<keyof TransformerConfig, string> = {
    patchSize: 'patch_size', numHeads: 'num_attention_heads', headDim: 'attention_head_dim',
    inChannels: 'in_channels', outChannels: 'out_channels', textDim: 'text_dim', freqDim: 'freq_dim',
    ffnDim: 'ffn_dim', numLayers: 'num_layers', crossAttnNorm: 'cross_attn_norm', eps: 'eps',
    imageDim: 'image_dim', addedKvProjDim: 'added_kv_proj_dim', ropeMaxSeqLen: 'rope_max_seq_len',
    posEmbedSeqLen: 'pos_embed_seq_len',
  };
  if (style !== 'original') return diffusers[field];
  const original: Partial<Record<keyof TransformerConfig, string>> = {
    numHeads: 'num_heads', inChannels: 'in_dim', outChannels: 'out_dim',
  };
  return original[field] ?? diffusers[field];
}

// ---- inference from weights ------------------------------------------------------------------

/** Every released Wan transformer uses 128-wide attention heads. */
export const WAN_HEAD_DIM = 128;

/** What the canonical-named weight shapes say about the config; absent where a tensor is absent. */
export function weightFacts(shapes: ReadonlyMap<string, readonly number[]>, file: string): Partial<TransformerConfig> & { dim?: number } {
  const f: Partial<TransformerConfig> & { dim?: number } = {};
  const pe = shapes.get('patch_embedding.weight');
  if (pe) {
    if (pe.length !== 5) {
      throw new ModelFormatError(`${file}: tensor "patch_embedding.weight" has shape ${fmtShape(pe)}; expected 5 dims [dim, in_channels, pt, ph, pw]`, { file, tensor: 'patch_embedding.weight' });
    }
    f.dim = pe[0];
    f.inChannels = pe[1];
    f.patchSize = [pe[2], pe[3], pe[4]];
  }
  const indices = new Set<number>();
  for (const name of shapes.keys()) {
    const m = /^blocks\.(\d+)\./.exec(name);
    if (m) indices.add(Number(m[1]));
  }
  if (indices.size > 0) {
    const max = Math.max(...indices);
    for (let i = 0; i <= max; i++) {
      if (!indices.has(i)) {
        throw new ModelFormatError(`${file}: block "blocks.${i}" is missing (blocks must run 0..${max} without gaps)`, { file, tensor: `blocks.${i}` });
      }
    }
    f.numLayers = indices.size;
  }
  const col = (name: string, i: number) => shapes.get(name)?.[i];
  f.ffnDim = col('blocks.0.ffn.net.0.proj.weight', 0);
  f.textDim = col('condition_embedder.text_embedder.linear_1.weight', 1);
  f.freqDim = col('condition_embedder.time_embedder.linear_1.weight', 1);
  const rows = col('proj_out.weight', 0);
  if (rows !== undefined && f.patchSize) {
    const p = f.patchSize[0] * f.patchSize[1] * f.patchSize[2];
    if (rows % p !== 0) {
      throw new ModelFormatError(`${file}: tensor "proj_out.weight" has ${rows} rows, not a multiple of the patch volume ${p}`, { file, tensor: 'proj_out.weight' });
    }
    f.outChannels = rows / p;
  }
  f.imageDim = col('condition_embedder.image_embedder.norm1.weight', 0) ?? null;
  f.addedKvProjDim = col('blocks.0.attn2.add_k_proj.weight', 1) ?? null;
  f.posEmbedSeqLen = col('condition_embedder.image_embedder.pos_embed', 1) ?? null;
  f.crossAttnNorm = shapes.has('blocks.0.norm2.weight');
  for (const k of Object.keys(f) as (keyof typeof f)[]) if (f[k] === undefined) delete f[k];
  return f;
}

/** Config of a bare .safetensors (canonical names) with no config.json beside it. */
export function inferTransformerConfig(shapes: ReadonlyMap<string, readonly number[]>, file = 'weights'): TransformerConfig {
  const f = weightFacts(shapes, file);
  const need = <T>(v: T | undefined, tensor: string, what: string): T => {
    if (v === undefined) {
      throw new ModelFormatError(`${file}: cannot infer ${what} without a config.json: tensor "${tensor}" is missing`, { file, tensor });
    }
    return v;
  };
  const dim = need(f.dim, 'patch_embedding.weight', 'dim');
  if (dim % WAN_HEAD_DIM !== 0) {
    throw new ModelFormatError(
      `${file}: dim ${dim} (from "patch_embedding.weight") is not a multiple of ${WAN_HEAD_DIM}, the head size of every released Wan model; put a config.json beside the file`,
      { file, tensor: 'patch_embedding.weight' },
    );
  }
  return {
    patchSize: f.patchSize!,
    numHeads: dim / WAN_HEAD_DIM,
    headDim: WAN_HEAD_DIM,
    inChannels: f.inChannels!,
    outChannels: need(f.outChannels, 'proj_out.weight', 'out_channels'),
    textDim: need(f.textDim, 'condition_embedder.text_embedder.linear_1.weight', 'text_dim'),
    freqDim: need(f.freqDim, 'condition_embedder.time_embedder.linear_1.weight', 'freq_dim'),
    ffnDim: need(f.ffnDim, 'blocks.0.ffn.net.0.proj.weight', 'ffn_dim'),
    numLayers: need(f.numLayers, 'blocks.0.attn1.to_q.weight', 'num_layers'),
    crossAttnNorm: f.crossAttnNorm!,
    eps: 1e-6,
    imageDim: f.imageDim ?? null,
    addedKvProjDim: f.addedKvProjDim ?? null,
    ropeMaxSeqLen: 1024,
    posEmbedSeqLen: f.posEmbedSeqLen ?? null,
  };
}
