// CLIP vision encoder configuration: the transformers config.json of a diffusers `image_encoder/`
// (CLIPVisionModel / CLIPVisionModelWithProjection, or a whole CLIPModel with `vision_config`), or,
// for a single file (ComfyUI's clip_vision_h.safetensors), what the weights say.

import { z } from 'zod';
import { ModelFormatError } from '../errors.js';
import type { ImageEncoderConfig } from './types.js';
import { readConfigJson, zodFailure } from './config.js';
import { fmtShape } from './safetensors.js';
import { IMAGE_ENCODER_LIMITS, checkParamTotal, limited } from './config-limits.js';

/** ViT-H/14 (Wan2.1 I2V's image encoder, laion CLIP-ViT-H-14 and open_clip's xlm-roberta-large-vit-huge-14). */
export const VIT_H_14: Readonly<ImageEncoderConfig> = Object.freeze({
  hiddenSize: 1280, intermediateSize: 5120, numHeads: 16, numLayers: 32, patchSize: 14, imageSize: 224, numChannels: 3, eps: 1e-5,
});

/** Heads of the CLIP vision towers a single file without config.json may hold, by width (the
 * weights do not tell how a width splits into heads). */
const HEADS_BY_WIDTH: Readonly<Record<number, number>> = { 1280: 16 };

const L = IMAGE_ENCODER_LIMITS;

// transformers' CLIPVisionConfig defaults describe ViT-B/32 with quick_gelu: a defaulted size would
// be another model, so the sizes are required; hidden_act defaults as transformers does and is then
// refused unless it is the exact GELU the ViT-H encoders use.
const VisionConfigSchema = z.looseObject({
  model_type: z.string().optional(),
  hidden_size: limited(L.hidden_size),
  intermediate_size: limited(L.intermediate_size),
  num_attention_heads: limited(L.num_attention_heads),
  num_hidden_layers: limited(L.num_hidden_layers),
  patch_size: limited(L.patch_size),
  image_size: limited(L.image_size),
  num_channels: limited(L.num_channels).default(3),
  layer_norm_eps: limited(L.layer_norm_eps).default(1e-5),
  hidden_act: z.string({ error: 'must be an activation name' }).default('quick_gelu'),
});

/** Normalise a parsed image encoder config.json; `shown` names the file in messages. */
export function parseImageEncoderConfig(json: unknown, file: string, shown = file): ImageEncoderConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new ModelFormatError(`${shown}: expected a JSON object`, { file });
  const obj = json as Record<string, unknown>;
  // A whole CLIPModel config nests the vision tower's.
  const vision = obj.model_type === 'clip' && obj.vision_config && typeof obj.vision_config === 'object' ? obj.vision_config : obj;
  const r = VisionConfigSchema.safeParse(vision);
  if (!r.success) throw zodFailure(file, shown, vision, r.error);
  const c = r.data;
  if (c.model_type !== undefined && c.model_type !== 'clip_vision_model' && c.model_type !== 'clip') {
    throw new ModelFormatError(`${shown}: field "model_type" is "${c.model_type}"; the image encoder must be a CLIP vision model ("clip_vision_model")`, { file });
  }
  if (c.hidden_act !== 'gelu') {
    throw new ModelFormatError(
      `${shown}: field "hidden_act" is "${c.hidden_act}"; only "gelu" (exact GELU, the ViT-H/14 encoder of Wan2.1 I2V) is implemented`,
      { file },
    );
  }
  if (c.hidden_size % c.num_attention_heads !== 0) {
    throw new ModelFormatError(`${shown}: field "hidden_size" ${c.hidden_size} must be divisible by field "num_attention_heads" ${c.num_attention_heads}`, { file });
  }
  if (c.image_size % c.patch_size !== 0) {
    throw new ModelFormatError(`${shown}: field "image_size" ${c.image_size} must be a multiple of field "patch_size" ${c.patch_size}`, { file });
  }
  const config: ImageEncoderConfig = {
    hiddenSize: c.hidden_size, intermediateSize: c.intermediate_size, numHeads: c.num_attention_heads, numLayers: c.num_hidden_layers,
    patchSize: c.patch_size, imageSize: c.image_size, numChannels: c.num_channels, eps: c.layer_norm_eps,
  };
  const d = (f: ImageEncoderConfigField) => describeImageEncoderField(f, config);
  checkParamTotal('imageEncoder', imageEncoderParamCount(config), `${d('numLayers')}, ${d('hiddenSize')}, ${d('intermediateSize')}, ${d('tokens')}`, file, shown);
  return config;
}

/** About how many parameters a CLIP vision config implies (blocks, patch and position embeddings). */
export function imageEncoderParamCount(c: ImageEncoderConfig): number {
  const grid = c.imageSize / c.patchSize;
  const D = c.hiddenSize;
  return c.numLayers * (4 * D * D + 2 * D * c.intermediateSize) + D * c.numChannels * c.patchSize ** 2 + (grid * grid + 1) * D;
}

export async function loadImageEncoderConfig(file: string, shown = file): Promise<ImageEncoderConfig> {
  return parseImageEncoderConfig(await readConfigJson(file, shown), file, shown);
}

/** Config fields a tensor shape follows from. */
export type ImageEncoderConfigField = keyof ImageEncoderConfig | 'tokens';

export function describeImageEncoderField(field: ImageEncoderConfigField, c: ImageEncoderConfig): string {
  const grid = c.imageSize / c.patchSize;
  const names: Record<ImageEncoderConfigField, string> = {
    hiddenSize: `hidden_size ${c.hiddenSize}`, intermediateSize: `intermediate_size ${c.intermediateSize}`,
    numHeads: `num_attention_heads ${c.numHeads}`, numLayers: `num_hidden_layers ${c.numLayers}`, patchSize: `patch_size ${c.patchSize}`,
    imageSize: `image_size ${c.imageSize}`, numChannels: `num_channels ${c.numChannels}`, eps: `layer_norm_eps ${c.eps}`,
    tokens: `(image_size ${c.imageSize} / patch_size ${c.patchSize})^2 + 1 = ${grid * grid + 1} tokens`,
  };
  return names[field];
}

const CLS = 'embeddings.class_embedding';
const PATCH = 'embeddings.patch_embedding.weight';
const POS = 'embeddings.position_embedding.weight';
const FC1 = 'encoder.layers.0.mlp.fc1.weight';

/** The configuration of canonical-named weights with no config.json: sizes from the shapes, the
 * head count from the width (ViT-H/14's 16 heads of 80), the rest CLIP's. */
export function inferImageEncoderConfig(shapes: ReadonlyMap<string, readonly number[]>, file = 'weights', shown = file): ImageEncoderConfig {
  const fail = (msg: string, tensor: string): never => {
    throw new ModelFormatError(`${shown}: ${msg}`, { file, tensor });
  };
  const need = (tensor: string, what: string, rank: number, dims: string): readonly number[] => {
    const s = shapes.get(tensor);
    if (s === undefined) return fail(`cannot infer ${what} without a config.json: tensor "${tensor}" is missing`, tensor);
    if (s.length !== rank) fail(`tensor "${tensor}" has shape ${fmtShape(s)}; expected ${rank} dims ${dims}`, tensor);
    return s;
  };
  const [hiddenSize] = need(CLS, 'hidden_size', 1, '[hidden_size]');
  const [, numChannels, patchSize, patchW] = need(PATCH, 'patch_size', 4, '[hidden_size, channels, patch, patch]');
  if (patchW !== patchSize) fail(`tensor "${PATCH}" has a non-square patch ${patchSize}x${patchW}`, PATCH);
  const [tokens] = need(POS, 'image_size', 2, '[tokens, hidden_size]');
  const grid = Math.round(Math.sqrt(tokens - 1));
  if (grid * grid + 1 !== tokens) fail(`tensor "${POS}" has ${tokens} positions, not a square grid plus the class token`, POS);
  const [intermediateSize] = need(FC1, 'intermediate_size', 2, '[intermediate_size, hidden_size]');
  const indices = new Set<number>();
  for (const name of shapes.keys()) {
    const m = /^encoder\.layers\.(\d+)\./.exec(name);
    if (m) indices.add(Number(m[1]));
  }
  if (indices.size === 0) fail('no "encoder.layers.N." tensors', FC1);
  const max = Math.max(...indices);
  for (let i = 0; i <= max; i++) if (!indices.has(i)) fail(`layer "encoder.layers.${i}" is missing (layers must run 0..${max} without gaps)`, `encoder.layers.${i}`);
  const numHeads = HEADS_BY_WIDTH[hiddenSize];
  if (numHeads === undefined) {
    fail(`a ${hiddenSize}-wide CLIP vision encoder needs a config.json beside it (the weights do not say how many attention heads it has; without one only the ${Object.keys(HEADS_BY_WIDTH).join(', ')}-wide ViT-H/14 is known)`, CLS);
  }
  return { hiddenSize, intermediateSize, numHeads: numHeads!, numLayers: indices.size, patchSize, imageSize: grid * patchSize, numChannels, eps: 1e-5 };
}

/** Every tensor CLIPVisionModel has for a config (canonical names), with the fields its shape follows from. */
export function expectedImageEncoderTensorSpecs(c: ImageEncoderConfig): Map<string, { shape: number[]; from: ImageEncoderConfigField[] }> {
  const D = c.hiddenSize;
  const grid = c.imageSize / c.patchSize;
  const specs = new Map<string, { shape: number[]; from: ImageEncoderConfigField[] }>();
  const add = (name: string, shape: number[], from: ImageEncoderConfigField[]) => specs.set(name, { shape, from });
  add(PATCH, [D, c.numChannels, c.patchSize, c.patchSize], ['hiddenSize', 'numChannels', 'patchSize']);
  add(CLS, [D], ['hiddenSize']);
  add(POS, [grid * grid + 1, D], ['tokens', 'hiddenSize']);
  for (const p of ['weight', 'bias']) add(`pre_layrnorm.${p}`, [D], ['hiddenSize']);
  for (let i = 0; i < c.numLayers; i++) {
    const l = `encoder.layers.${i}`;
    for (const p of ['weight', 'bias']) {
      add(`${l}.layer_norm1.${p}`, [D], ['hiddenSize']);
      for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) add(`${l}.self_attn.${proj}.${p}`, p === 'weight' ? [D, D] : [D], ['hiddenSize']);
      add(`${l}.layer_norm2.${p}`, [D], ['hiddenSize']);
      add(`${l}.mlp.fc1.${p}`, p === 'weight' ? [c.intermediateSize, D] : [c.intermediateSize], ['intermediateSize', 'hiddenSize']);
      add(`${l}.mlp.fc2.${p}`, p === 'weight' ? [D, c.intermediateSize] : [D], ['hiddenSize', 'intermediateSize']);
    }
  }
  return specs;
}
