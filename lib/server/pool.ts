// The pipelines a worker keeps loaded: loaded on first use, kept while memory allows, and the least
// recently used one released when a new one would not fit the budget. Estimates come from the
// checkpoint plans (weights as the CPU backend holds them), made before anything loads.
import { join } from 'node:path';

import { WanError } from '../errors.js';
import { inspectModelFolder } from '../model/folder.js';
import { estimateMemory } from '../model/memory.js';
import { planTextEncoder } from '../model/text-encoder-plan.js';
import { planTransformer } from '../model/transformer-plan.js';
import type { ModelVariant } from '../model/types.js';
import { planVae } from '../model/vae-plan.js';
import { WanPipeline } from '../pipeline/wan-pipeline.js';
import type { ModelConfig } from './config.js';

export interface ModelFacts {
  variant: ModelVariant;
  /** Weights in memory once loaded (bytes). */
  bytes: number;
}

/** What a model folder is and what it takes in memory, from its headers alone. */
export async function inspectModel(dir: string): Promise<ModelFacts> {
  const folder = await inspectModelFolder(dir);
  const paired = folder.present.includes('transformer_2');
  const plan = await planTransformer(join(dir, 'transformer'), paired ? { expert: 'high-noise', pairedWith: true } : {});
  const plan2 = paired ? await planTransformer(join(dir, 'transformer_2'), { expert: 'low-noise', pairedWith: true }) : null;
  const vae = await planVae(join(dir, 'vae'));
  const textEncoder = await planTextEncoder(join(dir, 'text_encoder'));
  const m = estimateMemory({ transformers: plan2 ? [plan, plan2] : [plan], vae, textEncoder }, { width: 16, height: 16, numFrames: 1 });
  return { variant: plan.variant.variant, bytes: m.weightsBytes };
}

interface Entry {
  pipe: Promise<WanPipeline>;
  bytes: number;
  lastUsed: number;
  inUse: number;
}

export class PipelinePool {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly models: Record<string, ModelConfig>,
    private readonly opts: { device: 'auto' | 'cpu' | 'cuda'; memoryBudgetBytes: number },
  ) {}

  /** The loaded pipeline for a configured model; call release() when the job is done with it. */
  async acquire(name: string): Promise<{ pipe: WanPipeline; release: () => void }> {
    const cfg = this.models[name];
    if (!cfg) throw new WanError('E_INVALID_ARGUMENT', `model "${name}" is not configured on this worker (configured: ${Object.keys(this.models).join(', ')})`);
    let e = this.entries.get(name);
    if (!e) {
      // The entry is in the map before anything is awaited, so jobs asking at the same time share
      // one load (and makeRoom cannot release it: it is in use from the start).
      const entry = { bytes: 0, lastUsed: Date.now(), inUse: 0 } as Entry;
      entry.pipe = (async () => {
        const { bytes } = await inspectModel(cfg.path);
        await this.makeRoom(bytes);
        entry.bytes = bytes;
        return WanPipeline.load(cfg.path, { device: this.opts.device, fastLoras: cfg.fastLoras, interpolator: cfg.interpolator, imageEncoder: cfg.imageEncoder, images: { allowFiles: false } });
      })();
      this.entries.set(name, entry);
      entry.pipe.catch(() => {
        if (this.entries.get(name) === entry) this.entries.delete(name);
      });
      e = entry;
    }
    e.inUse++;
    e.lastUsed = Date.now();
    const entry = e;
    try {
      const pipe = await entry.pipe;
      let released = false;
      return {
        pipe,
        release: () => {
          if (!released) (released = true), entry.inUse--;
        },
      };
    } catch (err) {
      entry.inUse--;
      throw err;
    }
  }

  /** Releases idle pipelines, least recently used first, until `bytes` more fit the budget. */
  private async makeRoom(bytes: number): Promise<void> {
    const used = () => [...this.entries.values()].reduce((n, e) => n + e.bytes, 0);
    while (used() + bytes > this.opts.memoryBudgetBytes) {
      const idle = [...this.entries.entries()].filter(([, e]) => e.inUse === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed)[0];
      if (!idle) break; // everything loaded is busy: load anyway, the budget is a target
      this.entries.delete(idle[0]);
      await (await idle[1].pipe.catch(() => null))?.dispose();
    }
  }

  loaded(): string[] {
    return [...this.entries.keys()];
  }

  async close(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const e of all) await (await e.pipe.catch(() => null))?.dispose();
  }
}
