// planTransformer: from a folder or file on disk to the TransformerPlan the native loader reads.
// Everything that can be wrong with a checkpoint is found here, before native code touches it.
// The steps every component shares live in component-plan.ts; this file adds the transformer's
// config styles, its tensor list and the Wan2.2 expert pairing.

import { basename, dirname, join } from 'node:path';
import type { TransformerConfig, TransformerPlan } from './types.js';
import { type ConfigStyle, configFieldName, inferTransformerConfig, loadTransformerConfig, weightFacts } from './config.js';
import { WAN_TRANSFORMER_KEYMAP } from './keymap.js';
import { fmtShape } from './safetensors.js';
import { type ComponentKind, type ComponentSource, type Show, fileExists, planComponent, resolveComponentSource } from './component-plan.js';
import { type ConfigField, expectedTransformerTensorSpecs } from './transformer-tensors.js';
import { type Expert, detectVariant } from './variant.js';

export interface PlanOptions {
  /** Which expert of a Wan2.2 pair this is, when the caller knows. */
  expert?: Expert;
  /** True when this transformer is one of a pair. */
  pairedWith?: boolean;
}

const WEIGHT_FILES = [
  'diffusion_pytorch_model.safetensors',
  'diffusion_pytorch_model.safetensors.index.json',
  'model.safetensors',
  'model.safetensors.index.json',
];

/** Describe the fields a shape follows from, as the config file spells them. */
function describeFields(fields: readonly ConfigField[], c: TransformerConfig, style: ConfigStyle): string {
  return fields
    .map((f) => {
      if (f === 'dim') return `dim ${c.numHeads * c.headDim}`;
      const v = c[f];
      return `${configFieldName(f, style)} ${Array.isArray(v) ? fmtShape(v) : String(v)}`;
    })
    .join(', ');
}

async function resolveConfig(
  src: ComponentSource,
  shapes: Map<string, number[]>,
  weightsName: string,
  show: Show,
): Promise<{ config: TransformerConfig; style: ConfigStyle; configName: string }> {
  if (!src.configFile) {
    return { config: inferTransformerConfig(shapes, weightsName), style: 'inferred', configName: 'the other weights' };
  }
  const loaded = await loadTransformerConfig(src.configFile, show(src.configFile));
  const config = { ...loaded.config };
  // Fields the config left out (WanModel configs omit text_dim; "i2v" does not say 2.1 or 2.2)
  // are settled by the weights; the fields it states are checked against the weights instead.
  if (loaded.assumed.length > 0) {
    const facts = weightFacts(shapes, weightsName);
    for (const f of loaded.assumed) if (facts[f] !== undefined) (config as Record<string, unknown>)[f] = facts[f];
  }
  return { config, style: loaded.style, configName: show(src.configFile) };
}

const TRANSFORMER: ComponentKind<TransformerConfig> = {
  label: 'Wan transformer',
  example: 'patch_embedding.weight',
  keymap: WAN_TRANSFORMER_KEYMAP,
  canonicalLabel: 'diffusers',
  // city96's ComfyUI-GGUF and QuantStack's files: the original Wan names, no prefix.
  ggufArchitectures: ['wan'],
  async resolveConfig(src, shapes, { weightsName, show }) {
    const { config, style, configName } = await resolveConfig(src, shapes, weightsName, show);
    return {
      config,
      configName,
      specs: expectedTransformerTensorSpecs(config),
      describeFields: (from) => describeFields(from as ConfigField[], config, style),
    };
  },
};

export async function planTransformer(path: string, opts: PlanOptions = {}): Promise<TransformerPlan> {
  // A diffusers pipeline root: take its transformer (the high-noise expert in a Wan2.2 pair).
  const src = await resolveComponentSource(path, {
    subfolder: opts.expert === 'low-noise' ? 'transformer_2' : 'transformer',
    weightFiles: WEIGHT_FILES,
    folderLabel: 'a transformer folder',
  });
  let expert = opts.expert;
  let paired = opts.pairedWith === true;
  if (!src.singleFile) {
    // In a diffusers Wan2.2 folder transformer/ is the high-noise expert and transformer_2/ the low-noise one.
    const parent = dirname(src.source);
    if (basename(src.source) === 'transformer_2' && (await fileExists(join(parent, 'transformer')))) {
      expert ??= 'low-noise';
      paired = true;
    } else if (basename(src.source) === 'transformer' && (await fileExists(join(parent, 'transformer_2', 'config.json')))) {
      expert ??= 'high-noise';
      paired = true;
    }
  }
  const { layout, config, tensors, dtypes } = await planComponent(src, TRANSFORMER);
  return {
    kind: 'transformer',
    source: src.source,
    layout,
    config,
    variant: detectVariant(config, { expert, pairedWith: paired, path: src.source }),
    tensors,
    dtypes,
  };
}
