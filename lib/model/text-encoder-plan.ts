// planTextEncoder: from a folder or file on disk to the TextEncoderPlan the native UMT5 loader reads.
// Accepts a diffusers `text_encoder/` folder (HF UMT5EncoderModel config and names, sharded or
// not), a pipeline root (-> its text_encoder/), a folder with the official T5Encoder config and
// names, or a single .safetensors (either naming; ComfyUI's fp8 `scale_weight` files included)
// with a config.json beside it or none (then the config comes from the weights), or a single .gguf
// in llama.cpp's T5 naming (city96's umt5-xxl-encoder-*.gguf files).

import type { TextEncoderConfig, TextEncoderPlan } from './types.js';
import { WAN_UMT5_KEYMAP } from './keymap.js';
import { type ComponentKind, planComponent, resolveComponentSource } from './component-plan.js';
import {
  type TextEncoderConfigField, describeTextEncoderField, inferTextEncoderConfig, loadTextEncoderConfig,
} from './text-encoder-config.js';
import { expectedTextEncoderTensorSpecs } from './text-encoder-tensors.js';

export interface TextEncoderPlanOptions {
  /** Subfolder of a pipeline root that holds the encoder (default `text_encoder`). */
  subfolder?: string;
}

const WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json'];

/** HF files store the embedding as `shared.weight`, `encoder.embed_tokens.weight`, or both (tied). */
const TIES = [['shared.weight', 'encoder.embed_tokens.weight']] as const;

const TEXT_ENCODER: ComponentKind<TextEncoderConfig> = {
  label: 'UMT5 text encoder',
  example: 'encoder.embed_tokens.weight',
  keymap: WAN_UMT5_KEYMAP,
  canonicalLabel: 'UMT5EncoderModel',
  ties: TIES,
  // city96's UMT5 encoder files, written by llama.cpp's converter (llama.cpp's T5 names).
  ggufArchitectures: ['t5encoder', 't5'],
  async resolveConfig(src, shapes, { weightsFile, weightsName, show }) {
    const { config, style } = src.configFile
      ? await loadTextEncoderConfig(src.configFile, show(src.configFile))
      : { config: inferTextEncoderConfig(shapes, weightsFile, weightsName), style: 'inferred' as const };
    return {
      config,
      configName: src.configFile ? show(src.configFile) : 'the other weights',
      specs: expectedTextEncoderTensorSpecs(config),
      describeFields: (from) => (from as TextEncoderConfigField[]).map((f) => describeTextEncoderField(f, config, style)).join(', '),
    };
  },
};

export async function planTextEncoder(path: string, opts: TextEncoderPlanOptions = {}): Promise<TextEncoderPlan> {
  const src = await resolveComponentSource(path, {
    subfolder: opts.subfolder ?? 'text_encoder',
    weightFiles: WEIGHT_FILES,
    folderLabel: 'a text encoder folder',
  });
  const { layout, config, tensors, dtypes } = await planComponent(src, TEXT_ENCODER);
  return { kind: 'text_encoder', source: src.source, layout, config, tensors, dtypes };
}
