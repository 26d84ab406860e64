// planTransformer: from a folder or file on disk to the TransformerPlan the native loader reads.
// Everything that can be wrong with a checkpoint is found here, before native code touches it.

import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { ModelFormatError } from '../errors.js';
import type { StoredDType, TensorRef, TransformerConfig, TransformerPlan } from './types.js';
import { DTYPE_BYTES } from './types.js';
import { type ConfigStyle, configFieldName, inferTransformerConfig, loadTransformerConfig, weightFacts } from './config.js';
import { WAN_TRANSFORMER_KEYMAP, mapKeys } from './keymap.js';
import {
  type SafetensorsEntry, type SafetensorsHeader, decodeToF32, fmtShape, numel, readSafetensorsHeader, readTensorBytes,
} from './safetensors.js';
import { type ConfigField, type TensorSpec, expectedTransformerTensorSpecs } from './transformer-tensors.js';
import { type Expert, detectVariant } from './variant.js';

export interface PlanOptions {
  /** Which expert of a Wan2.2 pair this is, when the caller knows. */
  expert?: Expert;
  /** True when this transformer is one of a pair. */
  pairedWith?: boolean;
}

const SUPPORTED = Object.keys(DTYPE_BYTES) as StoredDType[];
const WEIGHT_FILES = [
  'diffusion_pytorch_model.safetensors',
  'diffusion_pytorch_model.safetensors.index.json',
  'model.safetensors',
  'model.safetensors.index.json',
];
/** How many names a message lists before saying "and N more". */
const LIST_MAX = 5;

const exists = (p: string) => stat(p).then(() => true, () => false);
const isDir = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);
const listNames = (names: string[]) =>
  names.slice(0, LIST_MAX).map((n) => `"${n}"`).join(', ') + (names.length > LIST_MAX ? ` and ${names.length - LIST_MAX} more` : '');

interface Source {
  /** Folder or file the plan is for. */
  source: string;
  configFile: string | null;
  weightFiles: string[];
  indexFile: string | null;
  expert?: Expert;
  paired: boolean;
  /** Paths in messages are relative to this folder. */
  displayRoot: string;
}

async function resolveSource(path: string, opts: PlanOptions): Promise<Source> {
  let abs = resolve(path);
  if (!(await exists(abs))) throw new ModelFormatError(`${path}: no such file or folder`, { file: abs });
  if (!(await isDir(abs))) {
    const cfg = join(dirname(abs), 'config.json');
    return {
      source: abs, configFile: (await exists(cfg)) ? cfg : null, weightFiles: [abs], indexFile: null,
      paired: opts.pairedWith === true, displayRoot: dirname(abs),
    };
  }
  // A diffusers pipeline root: take its transformer (the high-noise expert in a Wan2.2 pair).
  if (!(await exists(join(abs, 'config.json'))) && (await exists(join(abs, 'model_index.json')))) {
    abs = join(abs, opts.expert === 'low-noise' ? 'transformer_2' : 'transformer');
    if (!(await isDir(abs))) throw new ModelFormatError(`${abs}: pipeline folder has no ${basename(abs)}/ component`, { file: abs });
  }
  const configFile = join(abs, 'config.json');
  const displayRoot = dirname(abs);
  if (!(await exists(configFile))) {
    throw new ModelFormatError(`${relative(displayRoot, configFile)}: missing (a transformer folder needs a config.json)`, { file: configFile });
  }
  let weights: string | undefined;
  for (const name of WEIGHT_FILES) {
    if (await exists(join(abs, name))) {
      weights = join(abs, name);
      break;
    }
  }
  if (!weights) {
    throw new ModelFormatError(`${basename(abs)}/: no weights found (looked for ${WEIGHT_FILES.join(', ')})`, { file: abs });
  }
  // In a diffusers Wan2.2 folder transformer/ is the high-noise expert and transformer_2/ the low-noise one.
  const parent = dirname(abs);
  let expert = opts.expert;
  let paired = opts.pairedWith === true;
  if (basename(abs) === 'transformer_2' && (await exists(join(parent, 'transformer')))) {
    expert ??= 'low-noise';
    paired = true;
  } else if (basename(abs) === 'transformer' && (await exists(join(parent, 'transformer_2', 'config.json')))) {
    expert ??= 'high-noise';
    paired = true;
  }
  const sharded = weights.endsWith('.index.json');
  return {
    source: abs, configFile, weightFiles: sharded ? [] : [weights], indexFile: sharded ? weights : null,
    expert, paired, displayRoot,
  };
}

const IndexSchema = z.looseObject({
  metadata: z.record(z.string(), z.unknown()).optional(),
  weight_map: z.record(z.string(), z.string({ error: 'must map each tensor name to a shard file name' })),
});

/** Read the shard index, check every shard exists; returns the shard paths and the tensor -> shard map. */
async function readIndex(indexFile: string, show: (f: string) => string): Promise<{ shards: string[]; weightMap: Map<string, string> }> {
  const fail = (msg: string, extra: { file?: string; tensor?: string } = {}): never => {
    throw new ModelFormatError(`${show(indexFile)}: ${msg}`, { file: indexFile, ...extra });
  };
  let json: unknown;
  try {
    json = JSON.parse(await readFile(indexFile, 'utf8'));
  } catch (e) {
    return fail(`not valid JSON (${(e as Error).message})`);
  }
  const r = IndexSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    return fail(`field "${issue.path.map(String).join('.')}" ${issue.message}`);
  }
  const dir = dirname(indexFile);
  const weightMap = new Map<string, string>();
  const byShard = new Map<string, string[]>();
  for (const [tensor, shard] of Object.entries(r.data.weight_map)) {
    const p = join(dir, shard);
    if (dirname(p) !== dir) fail(`shard "${shard}" of tensor "${tensor}" is not a file name in the same folder`, { tensor });
    weightMap.set(tensor, p);
    if (!byShard.has(p)) byShard.set(p, []);
    byShard.get(p)!.push(tensor);
  }
  if (weightMap.size === 0) fail('weight_map is empty');
  for (const [p, tensors] of byShard) {
    if (!(await exists(p))) {
      fail(`shard "${basename(p)}" does not exist, but the index places tensors ${listNames(tensors)} in it`, { file: p, tensor: tensors[0] });
    }
  }
  return { shards: [...byShard.keys()], weightMap };
}

/** Every tensor is in the shard the index names, and every shard tensor is in the index. */
function checkShards(indexFile: string, weightMap: Map<string, string>, headers: SafetensorsHeader[], show: (f: string) => string): void {
  const where = new Map<string, string>();
  for (const h of headers) for (const t of h.tensors) if (!where.has(t.name)) where.set(t.name, h.file);
  for (const [tensor, shard] of weightMap) {
    const found = headers.find((h) => h.file === shard)!.byName.has(tensor);
    if (found) continue;
    const actual = where.get(tensor);
    throw new ModelFormatError(
      actual
        ? `${show(indexFile)}: tensor "${tensor}" is listed in shard "${basename(shard)}" but is stored in "${basename(actual)}"`
        : `${show(indexFile)}: tensor "${tensor}" is listed in shard "${basename(shard)}", which does not hold it`,
      { file: shard, tensor },
    );
  }
  for (const h of headers) {
    for (const t of h.tensors) {
      if (!weightMap.has(t.name)) {
        throw new ModelFormatError(`${show(h.file)}: tensor "${t.name}" is not listed in ${show(indexFile)}`, { file: h.file, tensor: t.name });
      }
    }
  }
}

interface Found {
  entry: SafetensorsEntry;
  file: string;
  canonical: string;
}

/** Describe the fields a shape follows from, as the config file spells them. */
function describeFields(fields: ConfigField[], c: TransformerConfig, style: ConfigStyle): string {
  return fields
    .map((f) => {
      if (f === 'dim') return `dim ${c.numHeads * c.headDim}`;
      const v = c[f];
      return `${configFieldName(f, style)} ${Array.isArray(v) ? fmtShape(v) : String(v)}`;
    })
    .join(', ');
}

type Show = (file: string) => string;
type Stored = Map<string, { entry: SafetensorsEntry; file: string }>;

export async function planTransformer(path: string, opts: PlanOptions = {}): Promise<TransformerPlan> {
  const src = await resolveSource(path, opts);
  const show: Show = (f) => relative(src.displayRoot, f) || basename(f);

  let files = src.weightFiles;
  let weightMap: Map<string, string> | null = null;
  if (src.indexFile) ({ shards: files, weightMap } = await readIndex(src.indexFile, show));
  const headers = await Promise.all(files.map((f) => readSafetensorsHeader(f, { displayName: show(f) })));
  if (src.indexFile && weightMap) checkShards(src.indexFile, weightMap, headers, show);

  const storedIn = uniqueStoredNames(headers, show);
  const mapping = mapKeys(storedIn.keys(), WAN_TRANSFORMER_KEYMAP);
  if (mapping.unmapped.length > 0) {
    const first = storedIn.get(mapping.unmapped[0])!;
    throw new ModelFormatError(
      `${show(first.file)}: ${mapping.unmapped.length} key(s) of the original Wan layout map to no diffusers name: ${listNames(mapping.unmapped)}`,
      { file: first.file, tensor: mapping.unmapped[0] },
    );
  }
  const byCanonical = new Map<string, Found>();
  for (const [stored, canonical] of mapping.tensors) {
    const { entry, file } = storedIn.get(stored)!;
    const prev = byCanonical.get(canonical);
    if (prev) {
      throw new ModelFormatError(
        `${show(file)}: tensors "${prev.entry.name}" (${show(prev.file)}) and "${stored}" both map to "${canonical}"`,
        { file, tensor: stored },
      );
    }
    byCanonical.set(canonical, { entry, file, canonical });
  }

  const shapes = new Map([...byCanonical].map(([k, v]) => [k, v.entry.shape]));
  const { config, style, configName } = await resolveConfig(src, shapes, show(files[0]), show);
  const specs = expectedTransformerTensorSpecs(config);
  checkTensors(specs, byCanonical, { config, style, configName, files, source: src.source, storedIn, show });

  const scales = await readScales(mapping.scales, storedIn, specs, show);
  const tensors: TensorRef[] = [...specs.keys()].map((name) => {
    const f = byCanonical.get(name)!;
    const ref: TensorRef = {
      name, storedName: f.entry.name, file: f.file, offset: f.entry.offset, length: f.entry.length,
      dtype: f.entry.dtype as StoredDType, shape: f.entry.shape,
    };
    const s = scales.get(name);
    if (s !== undefined) ref.scale = s;
    return ref;
  });

  return {
    kind: 'transformer',
    source: src.source,
    layout: mapping.layout,
    config,
    variant: detectVariant(config, { expert: src.expert, pairedWith: src.paired, path: src.source }),
    tensors,
    dtypes: SUPPORTED.filter((d) => tensors.some((t) => t.dtype === d)),
  };
}

/** Stored names must be unique across files before they are mapped. */
function uniqueStoredNames(headers: SafetensorsHeader[], show: Show): Stored {
  const storedIn: Stored = new Map();
  for (const h of headers) {
    for (const e of h.tensors) {
      const prev = storedIn.get(e.name);
      if (prev) {
        throw new ModelFormatError(`${show(h.file)}: tensor "${e.name}" is also stored in ${show(prev.file)}`, { file: h.file, tensor: e.name });
      }
      storedIn.set(e.name, { entry: e, file: h.file });
    }
  }
  return storedIn;
}

async function resolveConfig(
  src: Source,
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

interface CheckContext {
  config: TransformerConfig;
  style: ConfigStyle;
  configName: string;
  files: string[];
  source: string;
  storedIn: Stored;
  show: Show;
}

/** Missing, unexpected, wrong shape, unloadable dtype: in that order, the first problem found. */
function checkTensors(specs: Map<string, TensorSpec>, byCanonical: Map<string, Found>, ctx: CheckContext): void {
  const { show, files, configName } = ctx;
  const searched = files.map(show).join(', ');
  const missing = [...specs.keys()].filter((n) => !byCanonical.has(n));
  const unexpected = [...byCanonical.values()].filter((f) => !specs.has(f.canonical));
  if (missing.length === specs.size) {
    throw new ModelFormatError(
      `${searched}: no Wan transformer tensors found (expected e.g. "patch_embedding.weight"; the files hold ${listNames([...ctx.storedIn.keys()])})`,
      { file: files[0] },
    );
  }
  if (missing.length > 0) {
    const also = unexpected.length > 0 ? `; the files also hold tensors the model does not have: ${listNames(unexpected.map((f) => f.entry.name))}` : '';
    throw new ModelFormatError(
      `${show(ctx.source)}: missing tensor(s) ${listNames(missing)} (required by ${configName}; searched ${searched})${also}`,
      { file: files[0], tensor: missing[0] },
    );
  }
  if (unexpected.length > 0) {
    const f = unexpected[0];
    const names = unexpected.filter((u) => u.file === f.file).map((u) => u.entry.name);
    throw new ModelFormatError(
      `${show(f.file)}: unexpected tensor(s) ${listNames(names)}: not part of the model that ${configName} describes`,
      { file: f.file, tensor: f.entry.name },
    );
  }
  const label = (f: Found) => (f.entry.name === f.canonical ? `"${f.canonical}"` : `"${f.entry.name}" (${f.canonical})`);
  for (const [name, spec] of specs) {
    const f = byCanonical.get(name)!;
    const shape = f.entry.shape;
    if (shape.length !== spec.shape.length || shape.some((d, i) => d !== spec.shape[i])) {
      throw new ModelFormatError(
        `${show(f.file)}: tensor ${label(f)} has shape ${fmtShape(shape)} but ${configName} (${describeFields(spec.from, ctx.config, ctx.style)}) implies ${fmtShape(spec.shape)}`,
        { file: f.file, tensor: f.entry.name },
      );
    }
    if (!(SUPPORTED as string[]).includes(f.entry.dtype)) {
      throw new ModelFormatError(
        `${show(f.file)}: tensor ${label(f)} has dtype ${f.entry.dtype}; supported dtypes are ${SUPPORTED.join(', ')}`,
        { file: f.file, tensor: f.entry.name },
      );
    }
  }
}

/** Read the ComfyUI `scale_weight` scalars (a few bytes each) for the weights they dequantise. */
async function readScales(
  scaleKeys: Map<string, string>,
  storedIn: Stored,
  specs: Map<string, TensorSpec>,
  show: Show,
): Promise<Map<string, number>> {
  const byFile = new Map<string, { weight: string; entry: SafetensorsEntry }[]>();
  for (const [weight, stored] of scaleKeys) {
    const { entry, file } = storedIn.get(stored)!;
    const fail = (msg: string): never => {
      throw new ModelFormatError(`${show(file)}: scale tensor "${stored}" ${msg}`, { file, tensor: stored });
    };
    if (!specs.has(weight)) fail(`belongs to "${weight}", which is not part of the model`);
    if (numel(entry.shape) !== 1) fail(`has shape ${fmtShape(entry.shape)}; expected a single value`);
    if (!['F32', 'F16', 'BF16'].includes(entry.dtype)) fail(`has dtype ${entry.dtype}; expected F32, F16 or BF16`);
    if (!byFile.has(file)) byFile.set(file, []);
    byFile.get(file)!.push({ weight, entry });
  }
  const out = new Map<string, number>();
  for (const [file, items] of byFile) {
    const bytes = await readTensorBytes(file, items.map((i) => i.entry));
    items.forEach((item, i) => {
      const v = decodeToF32(item.entry.dtype, bytes[i])[0];
      if (!Number.isFinite(v)) {
        throw new ModelFormatError(`${show(file)}: scale tensor "${item.entry.name}" is ${v}`, { file, tensor: item.entry.name });
      }
      out.set(item.weight, v);
    });
  }
  return out;
}
