// A diffusers pipeline folder: model_index.json says which components exist and how the pipeline
// is run (boundary_ratio for the Wan2.2 expert switch, expand_timesteps for TI2V).

import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ModelFormatError } from '../errors.js';

export interface ComponentInfo {
  library: string | null;
  className: string | null;
  /** The component's subfolder exists. */
  present: boolean;
}

export interface ModelFolderInfo {
  dir: string;
  pipelineClass: string;
  diffusersVersion: string | null;
  /** Every component model_index.json declares, by name. */
  components: Record<string, ComponentInfo>;
  /** Components declared (not [null, null]) whose folder exists. */
  present: string[];
  /** Components the pipeline needs whose folder is absent. */
  missing: string[];
  boundaryRatio: number | null;
  expandTimesteps: boolean | null;
}

const CORE = ['transformer', 'vae', 'text_encoder', 'tokenizer', 'scheduler'] as const;

const ModelIndexSchema = z.looseObject({
  _class_name: z.string({ error: 'must be the pipeline class name' }),
  _diffusers_version: z.string().optional(),
  boundary_ratio: z
    .number({ error: 'must be null or a number in (0, 1]' })
    .gt(0, { error: 'must be null or a number in (0, 1]' })
    .lte(1, { error: 'must be null or a number in (0, 1]' })
    .nullable()
    .optional(),
  expand_timesteps: z.boolean({ error: 'must be true or false' }).nullable().optional(),
});
const ComponentSchema = z.tuple([z.string().nullable(), z.string().nullable()], {
  error: 'must be [library, class] (or [null, null])',
});

export async function inspectModelFolder(dir: string): Promise<ModelFolderInfo> {
  const abs = resolve(dir);
  const file = join(abs, 'model_index.json');
  const fail = (msg: string): never => {
    throw new ModelFormatError(`${file}: ${msg}`, { file });
  };
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    return fail((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing (not a diffusers pipeline folder)' : `cannot be read (${(e as Error).message})`);
  }
  const r = ModelIndexSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    return fail(`field "${issue.path.map(String).join('.')}" ${issue.message}`);
  }

  const components: Record<string, ComponentInfo> = {};
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    // Components are the [library, class] pairs; other non-underscore fields are pipeline options.
    if (key.startsWith('_') || !Array.isArray(value)) continue;
    const c = ComponentSchema.safeParse(value);
    if (!c.success) fail(`field "${key}" ${c.error.issues[0].message} (got ${JSON.stringify(value)})`);
    const [library, className] = c.data!;
    const present = await stat(join(abs, key)).then((s) => s.isDirectory(), () => false);
    components[key] = { library, className, present };
  }

  const boundaryRatio = r.data.boundary_ratio ?? null;
  const declared = (k: string) => components[k] !== undefined && components[k].className !== null;
  // A boundary ratio means a two-expert pipeline, which needs transformer_2 too.
  const needed = new Set<string>([...CORE, ...Object.keys(components).filter(declared)]);
  if (boundaryRatio !== null) needed.add('transformer_2');
  return {
    dir: abs,
    pipelineClass: r.data._class_name,
    diffusersVersion: r.data._diffusers_version ?? null,
    components,
    present: Object.keys(components).filter((k) => declared(k) && components[k].present),
    missing: [...needed].filter((k) => !components[k]?.present),
    boundaryRatio,
    expandTimesteps: r.data.expand_timesteps ?? null,
  };
}
