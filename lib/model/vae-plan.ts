// planVae: from a folder or file on disk to the VaePlan the native VAE loader reads. Accepts a
// diffusers `vae/` folder (AutoencoderKLWan config and names), a pipeline root (-> its vae/), or a
// single .safetensors in either naming (the official Wan2.1_VAE / Wan2.2_VAE key layout, as
// ComfyUI's wan_2.1_vae.safetensors and wan2.2_vae.safetensors store it), with a config.json
// beside it or none (then the configuration comes from the weights).

import { join } from 'node:path';

import type { VaeConfig, VaeParts, VaePlan } from './types.js';
import {
  WAN_VAE_DEFAULT_STRUCTURE, compileKeyTable, detectWanVaeKeyStructure, wanVaeKeys,
} from './keymap.js';
import {
  type ComponentKind, type ComponentSource, fileExists, isDirectory, planComponent, readComponentWeights, resolveComponentSource,
  showFor,
} from './component-plan.js';
import { readConfigJson } from './config.js';
import { VAE_CLASS, type VaeConfigField, describeVaeField, inferVaeConfig, parseVaeConfig, vaeVersion } from './vae-config.js';
import { expectedVaeTensorSpecs } from './vae-tensors.js';

export interface VaePlanOptions {
  /** Subfolder of a pipeline root that holds the VAE (default `vae`). */
  subfolder?: string;
  /** Load only one half: text-to-video pipelines only decode (default both). */
  parts?: VaeParts;
}

const WEIGHT_FILES = [
  'diffusion_pytorch_model.safetensors',
  'diffusion_pytorch_model.safetensors.index.json',
  'model.safetensors',
  'model.safetensors.index.json',
];

/** A config.json beside a single file may belong to something else; only an AutoencoderKLWan one counts. */
async function configFor(src: ComponentSource): Promise<{ json: unknown; file: string } | null> {
  if (!src.configFile) return null;
  const json = await readConfigJson(src.configFile, showFor(src)(src.configFile));
  const cls = json !== null && typeof json === 'object' ? (json as Record<string, unknown>)._class_name : undefined;
  if (src.singleFile && cls !== VAE_CLASS) return null;
  return { json, file: src.configFile };
}

function vaeKind(src: ComponentSource, keys: Iterable<string>): ComponentKind<VaeConfig> {
  const structure = detectWanVaeKeyStructure(keys) ?? WAN_VAE_DEFAULT_STRUCTURE;
  return {
    label: 'Wan VAE',
    example: 'decoder.conv_in.weight',
    keymap: compileKeyTable(wanVaeKeys(structure)),
    canonicalLabel: 'diffusers AutoencoderKLWan',
    ggufArchitectures: [],  // no GGUF VAE is published; one without an architecture key is read
    async resolveConfig(_src, shapes, { weightsFile, weightsName, show }) {
      const found = await configFor(src);
      const config = found ? parseVaeConfig(found.json, found.file, show(found.file)) : inferVaeConfig(shapes, weightsFile, weightsName);
      return {
        config,
        configName: found ? show(found.file) : 'the other weights',
        specs: expectedVaeTensorSpecs(config),
        describeFields: (from) => (from as VaeConfigField[]).map((f) => describeVaeField(f, config)).join(', '),
      };
    },
  };
}

/** The half of the VAE a tensor belongs to. */
const partOf = (name: string): 'encoder' | 'decoder' =>
  name.startsWith('encoder.') || name.startsWith('quant_conv.') ? 'encoder' : 'decoder';

/** A folder holding only the weights (no config.json, not a pipeline root) stands for its weights
 * file: official VAE weights come without a config. */
async function bareWeightsIn(path: string): Promise<string | null> {
  if (!(await isDirectory(path))) return null;
  if ((await fileExists(join(path, 'config.json'))) || (await fileExists(join(path, 'model_index.json')))) return null;
  for (const name of WEIGHT_FILES) {
    if (!name.endsWith('.index.json') && (await fileExists(join(path, name)))) return join(path, name);
  }
  return null;
}

export async function planVae(path: string, opts: VaePlanOptions = {}): Promise<VaePlan> {
  const src = await resolveComponentSource((await bareWeightsIn(path)) ?? path, {
    subfolder: opts.subfolder ?? 'vae',
    weightFiles: WEIGHT_FILES,
    folderLabel: 'a VAE folder',
  });
  // The original names number their modules by structure, which the stored keys tell before mapping.
  const { storedIn } = await readComponentWeights(src, showFor(src));
  const { layout, config, tensors, dtypes } = await planComponent(src, vaeKind(src, storedIn.keys()));
  const parts = opts.parts ?? 'both';
  const kept = parts === 'both' ? tensors : tensors.filter((t) => partOf(t.name) === parts);
  return {
    kind: 'vae',
    source: src.source,
    layout,
    config,
    version: vaeVersion(config),
    parts,
    tensors: kept,
    dtypes: parts === 'both' ? dtypes : dtypes.filter((d) => kept.some((t) => t.dtype === d)),
  };
}
