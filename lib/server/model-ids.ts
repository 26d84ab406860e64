// The hosted APIs' model ids for the Wan models, and which loaded pipeline answers each.
//
// With one configured model every id below reaches it, so a client written for a hosted API works
// unchanged. With several, an id reaches the model it is listed for in the config file (`ids`), or
// else the one model whose detected variant is the id's; the configured name is always an id too.
import type { ModelVariant } from '../model/types.js';
import type { ApiName } from './types.js';

export interface KnownModelId {
  api: ApiName;
  id: string;
  variant: ModelVariant;
}

const known = (api: ApiName, variant: ModelVariant, ids: string[]): KnownModelId[] => ids.map((id) => ({ api, id, variant }));

/** The Wan ids of the three APIs (Oxen's model pages, fal's endpoints, Runware's AIR ids). */
export const KNOWN_MODEL_IDS: readonly KnownModelId[] = [
  ...known('oxen', 'wan2.1-t2v-1.3b', ['wan-ai-wan2-1-t2v-1-3b-diffusers']),
  ...known('oxen', 'wan2.1-t2v-14b', ['wan-ai-wan2-1-t2v-14b-diffusers']),
  ...known('oxen', 'wan2.2-t2v-a14b', ['wan-ai-wan2-2-t2v-a14b-diffusers']),
  ...known('oxen', 'wan2.2-ti2v-5b', ['wan-ai-wan2-2-ti2v-5b-diffusers']),
  ...known('fal', 'wan2.2-t2v-a14b', ['fal-ai/wan/v2.2-a14b/text-to-video', 'fal-ai/wan/v2.2-a14b/text-to-video/lora']),
  ...known('fal', 'wan2.2-i2v-a14b', ['fal-ai/wan/v2.2-a14b/image-to-video', 'fal-ai/wan/v2.2-a14b/image-to-video/lora']),
  ...known('fal', 'wan2.2-ti2v-5b', ['fal-ai/wan/v2.2-5b/text-to-video', 'fal-ai/wan/v2.2-5b/image-to-video']),
  ...known('fal', 'wan2.1-t2v-14b', ['fal-ai/wan-t2v']),
  ...known('runware', 'wan2.2-t2v-a14b', ['runware:200@6']),
];

export interface ModelEntry {
  name: string;
  variant: ModelVariant | null;
  /** Ids the config file lists for it. */
  ids: string[];
}

export type ModelResolution = { model: string } | { error: string };

/** Which configured model serves `id` (undefined: the request named none). */
export function resolveModelId(api: ApiName, id: string | undefined, models: readonly ModelEntry[]): ModelResolution {
  const served = () => servedIds(api, models).join(', ');
  if (models.length === 0) return { error: 'no model is configured' };
  if (id === undefined || id === '') {
    if (models.length === 1) return { model: models[0].name };
    return { error: `a model id is required: this server has ${models.length} models (${served()})` };
  }
  const byName = models.find((m) => m.name === id || m.ids.includes(id));
  if (byName) return { model: byName.name };
  const k = KNOWN_MODEL_IDS.find((x) => x.id === id);
  if (k) {
    if (models.length === 1) return { model: models[0].name };
    const matches = models.filter((m) => m.variant === k.variant);
    if (matches.length === 1) return { model: matches[0].name };
  }
  return { error: `model "${id}" is not served here (served: ${served()})` };
}

/** Every id that reaches a model through `api`, for messages and listings. */
export function servedIds(api: ApiName, models: readonly ModelEntry[]): string[] {
  const out = new Set<string>();
  for (const m of models) {
    out.add(m.name);
    for (const id of m.ids) out.add(id);
  }
  for (const k of KNOWN_MODEL_IDS) {
    if (k.api !== api) continue;
    if (models.length === 1 || models.filter((m) => m.variant === k.variant).length === 1) out.add(k.id);
  }
  return [...out];
}
