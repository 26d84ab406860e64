// planImageEncoder: from a folder or file on disk to the ImageEncoderPlan the native CLIP vision
// loader reads. Accepts a diffusers `image_encoder/` folder (transformers CLIPVisionModel config,
// `vision_model.*` names or the same without the prefix), a pipeline root (-> its image_encoder/ and
// image_processor/), or a single .safetensors: ComfyUI's clip_vision_h.safetensors, an open_clip
// visual tower (`visual.conv1`, fused `in_proj_weight`) or the official Wan VisionTransformer names
// (`visual.patch_embedding`, fused `to_qkv`), with a config.json beside it or none (ViT-H/14 is then
// read off the weights).
//
// Beyond the key table: the fused q/k/v matrices of the original layouts become three planned
// tensors (rows of the same stored bytes, no copy), the official names' [1, 1, D] class and
// [1, T, D] position tensors are read as [D] and [T, D], and what the encoder does not use
// (post_layernorm, the projection, a text tower in a whole-CLIP file) is reported as ignored.

import { dirname, join } from 'node:path';

import { ModelFormatError } from '../errors.js';
import { OPENAI_CLIP_PROCESSOR } from '../image/preprocess.js';
import { loadClipProcessorConfig } from '../image/processor-config.js';
import {
  type FoundTensor, type StoredTensors, buildTensorRefs, checkComponentTensors, fileExists, mapComponentKeys, readComponentWeights, readScales,
  resolveComponentSource, showFor, storedDTypes,
} from './component-plan.js';
import { readConfigJson } from './config.js';
import {
  type ImageEncoderConfigField, describeImageEncoderField, expectedImageEncoderTensorSpecs, inferImageEncoderConfig, parseImageEncoderConfig,
} from './image-encoder-config.js';
import { CLIP_VISION_KEYMAP } from './keymap.js';
import { fmtShape } from './safetensors.js';
import type { ImageEncoderConfig, ImageEncoderPlan, ImageProcessorConfig } from './types.js';

export interface ImageEncoderPlanOptions {
  /** Subfolder of a pipeline root that holds the encoder (default `image_encoder`). */
  subfolder?: string;
}

const WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json'];
/** A whole-CLIP file keeps its vision tower under one of these; everything else is the text side. */
const TOWER_PREFIXES = ['vision_model.', 'visual.'];
/** Canonical tensors of CLIPVisionModel(WithProjection) that the penultimate hidden states do not use. */
const UNUSED = ['post_layernorm.weight', 'post_layernorm.bias', 'visual_projection.weight', 'embeddings.position_ids'];
const FUSED = /^encoder\.layers\.(\d+)\.self_attn\.qkv\.(weight|bias)$/;

/** The vision tower of a file that may also hold a text tower. */
function selectTower(storedIn: StoredTensors, ignored: string[]): StoredTensors {
  const keys = [...storedIn.keys()];
  if (!keys.some((k) => TOWER_PREFIXES.some((p) => k.startsWith(p)))) return storedIn;
  const kept: StoredTensors = new Map();
  for (const [k, v] of storedIn) {
    if (TOWER_PREFIXES.some((p) => k.startsWith(p)) || k === 'visual_projection.weight') kept.set(k, v);
    else ignored.push(k);
  }
  return kept;
}

/** q, k, v rows of a fused [3D, D] matrix (or [3D] bias) as three tensors over the same bytes. */
function splitFused(byCanonical: Map<string, FoundTensor>, scales: Map<string, string>, show: (f: string) => string): void {
  for (const [canonical, f] of [...byCanonical]) {
    const m = FUSED.exec(canonical);
    if (!m) continue;
    const [, layer, param] = m;
    const shape = f.entry.shape;
    const expectedRank = param === 'weight' ? 2 : 1;
    if (shape.length !== expectedRank || shape[0] % 3 !== 0 || (param === 'weight' && shape[0] !== 3 * shape[1])) {
      throw new ModelFormatError(
        `${show(f.file)}: tensor "${f.entry.name}" has shape ${fmtShape(shape)}; a fused q/k/v ${param} must be ${param === 'weight' ? '[3 x width, width]' : '[3 x width]'}`,
        { file: f.file, tensor: f.entry.name },
      );
    }
    const rows = shape[0] / 3;
    const partShape = param === 'weight' ? [rows, shape[1]] : [rows];
    const partBytes = f.entry.length / 3;
    byCanonical.delete(canonical);
    const scale = scales.get(canonical);
    scales.delete(canonical);
    ['q_proj', 'k_proj', 'v_proj'].forEach((proj, i) => {
      const name = `encoder.layers.${layer}.self_attn.${proj}.${param}`;
      byCanonical.set(name, { file: f.file, canonical: name, entry: { ...f.entry, shape: partShape, offset: f.entry.offset + i * partBytes, length: partBytes } });
      if (scale !== undefined) scales.set(name, scale);
    });
  }
}

/** Leading unit dims off the class and position tensors (the official names store [1, 1, D], [1, T, D]). */
function squeeze(byCanonical: Map<string, FoundTensor>): void {
  for (const [name, rank] of [['embeddings.class_embedding', 1], ['embeddings.position_embedding.weight', 2]] as const) {
    const f = byCanonical.get(name);
    if (!f || f.entry.shape.length <= rank) continue;
    const extra = f.entry.shape.slice(0, f.entry.shape.length - rank);
    if (extra.every((d) => d === 1)) f.entry = { ...f.entry, shape: f.entry.shape.slice(-rank) };
  }
}

/** A config.json beside a single file counts only when it describes a CLIP vision model. */
async function configFor(configFile: string | null, singleFile: boolean, shown: string): Promise<unknown | null> {
  if (!configFile) return null;
  const json = await readConfigJson(configFile, shown);
  if (!singleFile) return json;
  const type = json !== null && typeof json === 'object' ? (json as Record<string, unknown>).model_type : undefined;
  return type === 'clip_vision_model' || type === 'clip' ? json : null;
}

/** `image_processor/preprocessor_config.json` beside the encoder folder, or one inside it; OpenAI CLIP's values otherwise. */
async function processorFor(source: string, singleFile: boolean, config: ImageEncoderConfig, show: (f: string) => string): Promise<{ processor: ImageProcessorConfig; processorSource: string }> {
  const candidates = singleFile ? [] : [join(dirname(source), 'image_processor', 'preprocessor_config.json'), join(source, 'preprocessor_config.json')];
  // Without a processor file: OpenAI CLIP's processor at the encoder's own input size.
  const S = config.imageSize;
  let processor: ImageProcessorConfig = { ...OPENAI_CLIP_PROCESSOR, shortestEdge: S, cropHeight: S, cropWidth: S };
  let processorSource = 'OpenAI CLIP defaults (no image_processor/preprocessor_config.json)';
  for (const file of candidates) {
    if (await fileExists(file)) {
      processor = await loadClipProcessorConfig(file, show(file));
      processorSource = show(file);
      break;
    }
  }
  if (processor.doCenterCrop && (processor.cropHeight !== config.imageSize || processor.cropWidth !== config.imageSize)) {
    throw new ModelFormatError(
      `${processorSource}: crop_size ${processor.cropWidth}x${processor.cropHeight} does not match the encoder's image_size ${config.imageSize}`,
      { file: candidates.find(() => true) },
    );
  }
  if (!processor.doCenterCrop) {
    throw new ModelFormatError(`${processorSource}: do_center_crop false is not implemented (the encoder takes square ${config.imageSize}x${config.imageSize} inputs)`);
  }
  return { processor, processorSource };
}

export async function planImageEncoder(path: string, opts: ImageEncoderPlanOptions = {}): Promise<ImageEncoderPlan> {
  const src = await resolveComponentSource(path, {
    subfolder: opts.subfolder ?? 'image_encoder',
    weightFiles: WEIGHT_FILES,
    folderLabel: 'an image encoder folder',
  });
  const show = showFor(src);
  const { files, storedIn: allStored } = await readComponentWeights(src, show);
  const ignored: string[] = [];
  const storedIn = selectTower(allStored, ignored);
  const { mapping, byCanonical } = mapComponentKeys(storedIn, CLIP_VISION_KEYMAP, show, { canonicalLabel: 'transformers CLIPVisionModel' });
  for (const name of UNUSED) {
    const f = byCanonical.get(name);
    if (!f) continue;
    byCanonical.delete(name);
    mapping.scales.delete(name);
    ignored.push(f.entry.name);
  }
  splitFused(byCanonical, mapping.scales, show);
  squeeze(byCanonical);

  const shapes = new Map([...byCanonical].map(([k, v]) => [k, v.entry.shape]));
  const json = await configFor(src.configFile, src.singleFile, src.configFile ? show(src.configFile) : '');
  const config = json !== null && src.configFile
    ? parseImageEncoderConfig(json, src.configFile, show(src.configFile))
    : inferImageEncoderConfig(shapes, files[0], show(files[0]));
  const configName = json !== null && src.configFile ? show(src.configFile) : 'the other weights';
  const specs = expectedImageEncoderTensorSpecs(config);
  checkComponentTensors(specs, byCanonical, {
    configName,
    describeFields: (from) => (from as ImageEncoderConfigField[]).map((f) => describeImageEncoderField(f, config)).join(', '),
    label: 'CLIP vision encoder',
    example: 'vision_model.embeddings.patch_embedding.weight',
    files,
    source: src.source,
    storedIn,
    show,
  });
  const scales = await readScales(mapping.scales, storedIn, specs, show);
  const tensors = buildTensorRefs(specs, byCanonical, scales);
  const { processor, processorSource } = await processorFor(src.source, src.singleFile, config, show);
  return {
    kind: 'image_encoder', source: src.source, layout: mapping.layout, config, processor, processorSource, tensors,
    ignored: [...ignored, ...mapping.consumed], dtypes: storedDTypes(tensors),
  };
}
