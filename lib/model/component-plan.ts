// What every component plan shares, whatever the model: finding the weights (a component folder, a
// single file, a pipeline root and its subfolder), reading and cross-checking shards and headers,
// mapping stored keys to canonical names (fp8 scales included), and the missing / unexpected /
// shape / dtype checks. Each model (transformer, text encoder, ...) supplies a ComponentKind: its
// key table, how its config is found, and the tensors that config implies.

import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { ModelFormatError } from '../errors.js';
import type { KeyLayout, StoredDType, TensorRef } from './types.js';
import { STORED_DTYPES } from './types.js';
import { type CompiledKeyTable, type KeyMapping, mapKeys } from './keymap.js';
import {
  type SafetensorsEntry, type SafetensorsHeader, decodeToF32, fmtShape, numel, readSafetensorsHeader, readTensorBytes,
} from './safetensors.js';
import { type GgufHeader, isGgufFile, readGgufHeader } from './gguf.js';
import { readConfigJson } from './config.js';

/** The header of a weights file, GGUF or safetensors (told apart by the file's first bytes). */
export async function readWeightsHeader(file: string, opts: { displayName?: string } = {}): Promise<SafetensorsHeader | GgufHeader> {
  if (await isDirectory(file)) {
    throw new ModelFormatError(`${opts.displayName ?? file}: is a folder; expected a weights file (.safetensors or .gguf)`, { file });
  }
  return (await isGgufFile(file)) ? readGgufHeader(file, opts) : readSafetensorsHeader(file, opts);
}

const isGguf = (h: SafetensorsHeader): h is GgufHeader => (h as GgufHeader).format === 'gguf';

/** Stored dtypes the runtime loads, in the order plans list them. */
export const SUPPORTED_DTYPES = Object.keys(STORED_DTYPES) as StoredDType[];
/** Which of them each file format can hold (safetensors has no block types, GGUF no fp8). */
export const FORMAT_DTYPES: Record<'safetensors' | 'gguf', StoredDType[]> = {
  safetensors: ['F32', 'F16', 'BF16', 'F8_E4M3'],
  gguf: SUPPORTED_DTYPES.filter((d) => d !== 'F8_E4M3'),
};
/** How many names a message lists before saying "and N more". */
const LIST_MAX = 5;

export const fileExists = (p: string) => stat(p).then(() => true, () => false);
export const isDirectory = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);
/** `"a", "b", "c" and 4 more`. */
export const listNames = (names: string[]) =>
  names.slice(0, LIST_MAX).map((n) => `"${n}"`).join(', ') + (names.length > LIST_MAX ? ` and ${names.length - LIST_MAX} more` : '');

/** How a file is named in messages. */
export type Show = (file: string) => string;

/** Where a component's config and weights are. */
export interface ComponentSource {
  /** Folder or file the plan is for (absolute). */
  source: string;
  /** The component's config.json; null for a single file with none beside it. */
  configFile: string | null;
  /** Unsharded weight files (empty when `indexFile` is set). */
  weightFiles: string[];
  /** `*.safetensors.index.json` of a sharded component. */
  indexFile: string | null;
  /** Paths in messages are relative to this folder. */
  displayRoot: string;
  /** True when `path` was a single file. */
  singleFile: boolean;
  /** True when `path` was a pipeline root and `source` its subfolder. */
  fromPipelineRoot: boolean;
}

export interface ResolveComponentOptions {
  /** The component's subfolder in a diffusers pipeline root (`transformer`, `text_encoder`). */
  subfolder: string;
  /** Weight file names to look for in a component folder, in order of preference. */
  weightFiles: readonly string[];
  /** What a component folder is called in messages: `a transformer folder`. */
  folderLabel: string;
}

/** Resolve a component folder, a single .safetensors file, or a pipeline root (-> its subfolder). */
export async function resolveComponentSource(path: string, o: ResolveComponentOptions): Promise<ComponentSource> {
  let abs = resolve(path);
  if (!(await fileExists(abs))) throw new ModelFormatError(`${path}: no such file or folder`, { file: abs });
  if (!(await isDirectory(abs))) {
    const cfg = join(dirname(abs), 'config.json');
    return {
      source: abs, configFile: (await fileExists(cfg)) ? cfg : null, weightFiles: [abs], indexFile: null,
      displayRoot: dirname(abs), singleFile: true, fromPipelineRoot: false,
    };
  }
  let fromPipelineRoot = false;
  if (!(await fileExists(join(abs, 'config.json'))) && (await fileExists(join(abs, 'model_index.json')))) {
    abs = join(abs, o.subfolder);
    fromPipelineRoot = true;
    if (!(await isDirectory(abs))) throw new ModelFormatError(`${abs}: pipeline folder has no ${basename(abs)}/ component`, { file: abs });
  }
  const configFile = join(abs, 'config.json');
  const displayRoot = dirname(abs);
  if (!(await fileExists(configFile))) {
    throw new ModelFormatError(`${relative(displayRoot, configFile)}: missing (${o.folderLabel} needs a config.json)`, { file: configFile });
  }
  let weights: string | undefined;
  for (const name of o.weightFiles) {
    if (await fileExists(join(abs, name))) {
      weights = join(abs, name);
      break;
    }
  }
  if (!weights) {
    throw new ModelFormatError(`${basename(abs)}/: no weights found (looked for ${o.weightFiles.join(', ')})`, { file: abs });
  }
  const sharded = weights.endsWith('.index.json');
  return {
    source: abs, configFile, weightFiles: sharded ? [] : [weights], indexFile: sharded ? weights : null,
    displayRoot, singleFile: false, fromPipelineRoot,
  };
}

/** Name files relative to the source's display root. */
export const showFor = (src: ComponentSource): Show => (f) => relative(src.displayRoot, f) || basename(f);

// ---- shards and headers --------------------------------------------------------------------------

const IndexSchema = z.looseObject({
  metadata: z.record(z.string(), z.unknown()).optional(),
  weight_map: z.record(z.string(), z.string({ error: 'must map each tensor name to a shard file name' })),
});

/** Check a parsed `*.safetensors.index.json`: tensor -> shard path (beside the index), and shard -> its
 * tensors. Pure over the parsed JSON, so that it can be fuzzed; every rejection names the index file. */
export function parseShardIndex(json: unknown, indexFile: string, show: Show): { weightMap: Map<string, string>; byShard: Map<string, string[]> } {
  const fail = (msg: string, extra: { file?: string; tensor?: string } = {}): never => {
    throw new ModelFormatError(`${show(indexFile)}: ${msg}`, { file: indexFile, ...extra });
  };
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
  return { weightMap, byShard };
}

/** Read the shard index, check every shard exists; returns the shard paths and the tensor -> shard map. */
export async function readShardIndex(indexFile: string, show: Show): Promise<{ shards: string[]; weightMap: Map<string, string> }> {
  const fail = (msg: string, extra: { file?: string; tensor?: string } = {}): never => {
    throw new ModelFormatError(`${show(indexFile)}: ${msg}`, { file: indexFile, ...extra });
  };
  const json = await readConfigJson(indexFile, show(indexFile));
  const { weightMap, byShard } = parseShardIndex(json, indexFile, show);
  for (const [p, tensors] of byShard) {
    if (!(await fileExists(p))) {
      fail(`shard "${basename(p)}" does not exist, but the index places tensors ${listNames(tensors)} in it`, { file: p, tensor: tensors[0] });
    }
  }
  return { shards: [...byShard.keys()], weightMap };
}

/** Every tensor is in the shard the index names, and every shard tensor is in the index. */
export function checkShards(indexFile: string, weightMap: Map<string, string>, headers: SafetensorsHeader[], show: Show): void {
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

/** Stored name -> its header entry and file. */
export type StoredTensors = Map<string, { entry: SafetensorsEntry; file: string; format: 'safetensors' | 'gguf' }>;

/** Stored names must be unique across files before they are mapped. */
export function uniqueStoredNames(headers: SafetensorsHeader[], show: Show): StoredTensors {
  const storedIn: StoredTensors = new Map();
  for (const h of headers) {
    for (const e of h.tensors) {
      const prev = storedIn.get(e.name);
      if (prev) {
        throw new ModelFormatError(`${show(h.file)}: tensor "${e.name}" is also stored in ${show(prev.file)}`, { file: h.file, tensor: e.name });
      }
      storedIn.set(e.name, { entry: e, file: h.file, format: isGguf(h) ? 'gguf' : 'safetensors' });
    }
  }
  return storedIn;
}

export interface ComponentWeights {
  /** The weight files (shards in index order). */
  files: string[];
  headers: SafetensorsHeader[];
  storedIn: StoredTensors;
}

/** Read the index (if sharded) and every header, and check they agree. */
export async function readComponentWeights(src: ComponentSource, show: Show): Promise<ComponentWeights> {
  let files = src.weightFiles;
  let weightMap: Map<string, string> | null = null;
  if (src.indexFile) ({ shards: files, weightMap } = await readShardIndex(src.indexFile, show));
  const headers = await Promise.all(files.map((f) => readWeightsHeader(f, { displayName: show(f) })));
  if (src.indexFile && weightMap) checkShards(src.indexFile, weightMap, headers, show);
  return { files, headers, storedIn: uniqueStoredNames(headers, show) };
}

// ---- key mapping ---------------------------------------------------------------------------------

/** A stored tensor under its canonical name. */
export interface FoundTensor {
  entry: SafetensorsEntry;
  file: string;
  canonical: string;
}

export interface MapComponentOptions {
  /** What the canonical names are called in messages: `diffusers`. */
  canonicalLabel: string;
  /** Tied tensors, [alias, canonical]: a file may store either or both. The alias alone stands in
   * for the canonical tensor; when both are stored the alias is the same tensor and is not planned. */
  ties?: ReadonlyArray<readonly [string, string]>;
}

export interface MappedComponent {
  mapping: KeyMapping;
  byCanonical: Map<string, FoundTensor>;
}

/** Map stored keys to canonical names; no two stored tensors may land on one name. */
export function mapComponentKeys(storedIn: StoredTensors, keymap: CompiledKeyTable, show: Show, o: MapComponentOptions): MappedComponent {
  const mapping = mapKeys(storedIn.keys(), keymap);
  if (mapping.unmapped.length > 0) {
    const first = storedIn.get(mapping.unmapped[0])!;
    throw new ModelFormatError(
      `${show(first.file)}: ${mapping.unmapped.length} key(s) of the original Wan layout map to no ${o.canonicalLabel} name: ${listNames(mapping.unmapped)}`,
      { file: first.file, tensor: mapping.unmapped[0] },
    );
  }
  const byCanonical = new Map<string, FoundTensor>();
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
  for (const [alias, canonical] of o.ties ?? []) resolveTie(alias, canonical, byCanonical, mapping, show);
  return { mapping, byCanonical };
}

function resolveTie(alias: string, canonical: string, byCanonical: Map<string, FoundTensor>, mapping: KeyMapping, show: Show): void {
  const a = byCanonical.get(alias);
  if (!a) return;
  byCanonical.delete(alias);
  const aliasScale = mapping.scales.get(alias);
  mapping.scales.delete(alias);
  const c = byCanonical.get(canonical);
  if (!c) {
    byCanonical.set(canonical, { ...a, canonical });
    if (aliasScale !== undefined && !mapping.scales.has(canonical)) mapping.scales.set(canonical, aliasScale);
    return;
  }
  // Both stored: they are one tensor saved twice; only a copy that disagrees is worth a word.
  if (a.entry.shape.length !== c.entry.shape.length || a.entry.shape.some((d, i) => d !== c.entry.shape[i])) {
    throw new ModelFormatError(
      `${show(a.file)}: tensor "${a.entry.name}" has shape ${fmtShape(a.entry.shape)} but the tensor it is tied to, "${c.entry.name}" (${show(c.file)}), has shape ${fmtShape(c.entry.shape)}`,
      { file: a.file, tensor: a.entry.name },
    );
  }
  mapping.consumed.push(a.entry.name);
  if (aliasScale !== undefined) mapping.consumed.push(aliasScale);
}

// ---- checks ------------------------------------------------------------------------------------

/** A tensor a config implies: its shape and the config fields that decide it. */
export interface ComponentTensorSpec {
  shape: readonly number[];
  from: readonly string[];
}

export interface CheckTensorsContext {
  /** How the config is named in messages (`text_encoder/config.json`, `the other weights`). */
  configName: string;
  /** The fields a shape follows from, as the config file spells them. */
  describeFields: (from: readonly string[]) => string;
  /** `Wan transformer`, for "no Wan transformer tensors found". */
  label: string;
  /** A tensor every such component has, for the same message. */
  example: string;
  files: string[];
  source: string;
  storedIn: StoredTensors;
  show: Show;
}

/** Missing, unexpected, wrong shape, unloadable dtype: in that order, the first problem found. */
export function checkComponentTensors(
  specs: ReadonlyMap<string, ComponentTensorSpec>,
  byCanonical: Map<string, FoundTensor>,
  ctx: CheckTensorsContext,
): void {
  const { show, files, configName } = ctx;
  const searched = files.map(show).join(', ');
  const missing = [...specs.keys()].filter((n) => !byCanonical.has(n));
  const unexpected = [...byCanonical.values()].filter((f) => !specs.has(f.canonical));
  if (missing.length === specs.size) {
    throw new ModelFormatError(
      `${searched}: no ${ctx.label} tensors found (expected e.g. "${ctx.example}"; the files hold ${listNames([...ctx.storedIn.keys()])})`,
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
  const label = (f: FoundTensor) => (f.entry.name === f.canonical ? `"${f.canonical}"` : `"${f.entry.name}" (${f.canonical})`);
  for (const [name, spec] of specs) {
    const f = byCanonical.get(name)!;
    const shape = f.entry.shape;
    if (shape.length !== spec.shape.length || shape.some((d, i) => d !== spec.shape[i])) {
      throw new ModelFormatError(
        `${show(f.file)}: tensor ${label(f)} has shape ${fmtShape(shape)} but ${configName} (${ctx.describeFields(spec.from)}) implies ${fmtShape(spec.shape)}`,
        { file: f.file, tensor: f.entry.name },
      );
    }
    const readable = FORMAT_DTYPES[ctx.storedIn.get(f.entry.name)?.format ?? 'safetensors'];
    if (!(readable as string[]).includes(f.entry.dtype)) {
      throw new ModelFormatError(
        `${show(f.file)}: tensor ${label(f)} has dtype ${f.entry.dtype}; supported dtypes are ${readable.join(', ')}`,
        { file: f.file, tensor: f.entry.name },
      );
    }
  }
}

/** Read the ComfyUI `scale_weight` scalars (a few bytes each) for the weights they dequantise. */
export async function readScales(
  scaleKeys: Map<string, string>,
  storedIn: StoredTensors,
  specs: ReadonlyMap<string, unknown>,
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

/** The plan's tensor list, in spec order. */
export function buildTensorRefs(
  specs: ReadonlyMap<string, unknown>,
  byCanonical: Map<string, FoundTensor>,
  scales: Map<string, number>,
): TensorRef[] {
  return [...specs.keys()].map((name) => {
    const f = byCanonical.get(name)!;
    const ref: TensorRef = {
      name, storedName: f.entry.name, file: f.file, offset: f.entry.offset, length: f.entry.length,
      dtype: f.entry.dtype as StoredDType, shape: f.entry.shape,
    };
    const s = scales.get(name);
    if (s !== undefined) ref.scale = s;
    return ref;
  });
}

/** Distinct stored dtypes of a plan, in SUPPORTED_DTYPES order. */
export const storedDTypes = (tensors: TensorRef[]): StoredDType[] =>
  SUPPORTED_DTYPES.filter((d) => tensors.some((t) => t.dtype === d));

// ---- the whole sequence ------------------------------------------------------------------------

/** A component's config once resolved, with what it implies. */
export interface ResolvedComponentConfig<C> {
  config: C;
  /** How the config is named in messages. */
  configName: string;
  /** Every tensor the model has for this config, in plan order. */
  specs: ReadonlyMap<string, ComponentTensorSpec>;
  describeFields: (from: readonly string[]) => string;
}

/** What a model contributes to planComponent. */
export interface ComponentKind<C> {
  /** `Wan transformer`, `UMT5 text encoder`: for "no ... tensors found". */
  label: string;
  /** A tensor every such component has. */
  example: string;
  keymap: CompiledKeyTable;
  /** What the canonical names are called in messages: `diffusers`. */
  canonicalLabel: string;
  ties?: ReadonlyArray<readonly [string, string]>;
  /** `general.architecture` values a GGUF file of this component may declare. */
  ggufArchitectures: readonly string[];
  /** The config: from src.configFile, or inferred from the canonical shapes when there is none. */
  resolveConfig(
    src: ComponentSource,
    shapes: Map<string, number[]>,
    ctx: { weightsFile: string; weightsName: string; show: Show },
  ): Promise<ResolvedComponentConfig<C>>;
}

export interface PlannedComponent<C> {
  layout: KeyLayout;
  config: C;
  tensors: TensorRef[];
  dtypes: StoredDType[];
}

/** Read, map and check a resolved component against the config its kind resolves. */
export async function planComponent<C>(src: ComponentSource, kind: ComponentKind<C>): Promise<PlannedComponent<C>> {
  const show = showFor(src);
  const { files, headers, storedIn } = await readComponentWeights(src, show);
  for (const h of headers) {
    if (isGguf(h) && h.architecture !== null && !kind.ggufArchitectures.includes(h.architecture)) {
      throw new ModelFormatError(
        `${show(h.file)}: general.architecture is "${h.architecture}", not a ${kind.label} (expected ${kind.ggufArchitectures.map((a) => `"${a}"`).join(' or ')})`,
        { file: h.file },
      );
    }
  }
  const { mapping, byCanonical } = mapComponentKeys(storedIn, kind.keymap, show, { canonicalLabel: kind.canonicalLabel, ties: kind.ties });

  const shapes = new Map([...byCanonical].map(([k, v]) => [k, v.entry.shape]));
  const { config, configName, specs, describeFields } = await kind.resolveConfig(src, shapes, { weightsFile: files[0], weightsName: show(files[0]), show });
  checkComponentTensors(specs, byCanonical, {
    configName, describeFields, label: kind.label, example: kind.example, files, source: src.source, storedIn, show,
  });

  const scales = await readScales(mapping.scales, storedIn, specs, show);
  const tensors = buildTensorRefs(specs, byCanonical, scales);
  return { layout: mapping.layout, config, tensors, dtypes: storedDTypes(tensors) };
}
