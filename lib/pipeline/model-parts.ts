// Where a pipeline's components come from: a diffusers pipeline folder (model_index.json and its
// subfolders), or components named one by one, e.g. ComfyUI-style single files:
//   WanPipeline.load({ model: 'wan2.1_t2v_1.3B_fp16.safetensors', vae: 'wan_2.1_vae.safetensors',
//                      textEncoder: 'umt5_xxl_fp8_e4m3fn_scaled.safetensors', tokenizer: 'tokenizer/' })
// Named components also override a pipeline folder's own.
import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { WanError } from '../errors.js';
import { inspectModelFolder } from '../model/folder.js';

export interface ModelPaths {
  /** A diffusers pipeline folder, or a transformer: a component folder or a single .safetensors file. */
  model: string;
  /** The Wan2.2 A14B low-noise expert (`transformer_2`), folder or file. */
  transformer2?: string;
  /** The VAE, folder or single file. */
  vae?: string;
  /** The UMT5 text encoder, folder or single file. */
  textEncoder?: string;
  /** A folder holding tokenizer.json (the UMT5 tokenizer), or the tokenizer.json file. */
  tokenizer?: string;
}

/** How the CLI spells each component flag, for messages (`--vae`). */
export const COMPONENT_FLAGS: Record<Exclude<keyof ModelPaths, 'model'>, string> = {
  transformer2: '--transformer-2',
  vae: '--vae',
  textEncoder: '--text-encoder',
  tokenizer: '--tokenizer',
};

export interface ModelParts {
  /** What was loaded, for messages: the folder, or the transformer file. */
  label: string;
  transformer: string;
  transformer2: string | null;
  vae: string;
  textEncoder: string;
  /** The folder holding tokenizer.json. */
  tokenizerDir: string;
  /** scheduler/scheduler_config.json of a pipeline folder (null: the request's scheduler at its defaults). */
  schedulerConfig: string | null;
  /** model_index.json's boundary_ratio (null: none given). */
  boundaryRatio: number | null;
  /** model_index.json's expand_timesteps (null: not said; decided from the transformer). */
  expandTimesteps: boolean | null;
}

const isDir = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);
const exists = (p: string) => stat(p).then(() => true, () => false);

async function tokenizerDir(path: string): Promise<string> {
  return basename(path) === 'tokenizer.json' && !(await isDir(path)) ? dirname(path) : path;
}

export async function resolveModelParts(input: string | ModelPaths): Promise<ModelParts> {
  const paths: ModelPaths = typeof input === 'string' ? { model: input } : input;
  const { model } = paths;
  if (!(await exists(model))) throw new WanError('E_INVALID_ARGUMENT', `model: ${model}: no such file or folder`);
  if (await exists(join(model, 'model_index.json'))) {
    const folder = await inspectModelFolder(model);
    // A component named explicitly stands in for a missing folder.
    const named: Record<string, string | undefined> = { transformer_2: paths.transformer2, vae: paths.vae, text_encoder: paths.textEncoder, tokenizer: paths.tokenizer };
    const missing = folder.missing.filter((c) => !named[c]);
    if (missing.length) {
      throw new WanError('E_MODEL_FORMAT', `${join(model, 'model_index.json')}: components ${missing.join(', ')} are declared but their folders are missing`);
    }
    const has = (c: string) => folder.present.includes(c);
    const schedulerConfig = join(model, 'scheduler', 'scheduler_config.json');
    return {
      label: model,
      transformer: join(model, 'transformer'),
      transformer2: paths.transformer2 ?? (has('transformer_2') ? join(model, 'transformer_2') : null),
      vae: paths.vae ?? join(model, 'vae'),
      textEncoder: paths.textEncoder ?? join(model, 'text_encoder'),
      tokenizerDir: paths.tokenizer ? await tokenizerDir(paths.tokenizer) : join(model, 'tokenizer'),
      schedulerConfig: (await exists(schedulerConfig)) ? schedulerConfig : null,
      boundaryRatio: folder.boundaryRatio,
      expandTimesteps: folder.expandTimesteps,
    };
  }
  // A transformer on its own: the other components must be named.
  const absent = (['vae', 'textEncoder', 'tokenizer'] as const).filter((k) => !paths[k]);
  if (absent.length) {
    const what = (await isDir(model)) ? 'a folder without model_index.json (not a diffusers pipeline folder)' : 'a single file';
    throw new WanError(
      'E_INVALID_ARGUMENT',
      `model: ${model} is ${what}, so it is taken as the transformer alone; also give ${absent.map((k) => `${k} (${COMPONENT_FLAGS[k]})`).join(', ')}, ` +
        'or pass a diffusers pipeline folder that holds them all',
    );
  }
  return {
    label: model,
    transformer: model,
    transformer2: paths.transformer2 ?? null,
    vae: paths.vae!,
    textEncoder: paths.textEncoder!,
    tokenizerDir: await tokenizerDir(paths.tokenizer!),
    schedulerConfig: null,
    boundaryRatio: null,
    expandTimesteps: null,
  };
}
