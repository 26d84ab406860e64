import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { loadAddon } from '../bindings/loader.js';
import { inspectModelFolder } from '../model/folder.js';
import { planTransformer } from '../model/transformer-plan.js';
import type { TransformerPlan } from '../model/types.js';
import { parseCommandArgs, parseDevice } from './args.js';

function summarize(plan: TransformerPlan) {
  const params = plan.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  return {
    source: plan.source,
    variant: plan.variant.variant,
    expert: plan.variant.expert,
    description: plan.variant.description,
    layout: plan.layout,
    dtypes: plan.dtypes,
    parameters: params,
    // The CPU backend holds float32 weights whatever the file stores.
    cpuWeightBytes: params * 4,
    config: plan.config,
  };
}

export async function runInfo(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    json: { type: 'boolean', default: false },
    device: { type: 'string' },
  });
  const loaded = loadAddon(parseDevice(values.device));
  const native = loaded.addon.info();
  const out: Record<string, unknown> = {
    addon: { kind: loaded.kind, path: loaded.path, reason: loaded.reason },
    backend: native,
  };
  if (positionals[0]) {
    const target = resolve(positionals[0]);
    if (existsSync(join(target, 'model_index.json'))) {
      const folder = await inspectModelFolder(target);
      const transformers: Record<string, unknown> = {};
      for (const name of ['transformer', 'transformer_2'] as const) {
        if (!folder.present.includes(name)) continue;
        const plan = await planTransformer(join(target, name), {
          expert: folder.present.includes('transformer_2') ? (name === 'transformer' ? 'high-noise' : 'low-noise') : undefined,
          pairedWith: folder.present.includes('transformer_2'),
        });
        transformers[name] = summarize(plan);
      }
      out.model = { ...folder, transformers };
    } else {
      out.model = { transformer: summarize(await planTransformer(target)) };
    }
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(`addon: ${loaded.kind} (${loaded.path})\n  why: ${loaded.reason}\n`);
  process.stdout.write(`backend: ${native.backend}, ${native.threads} threads on ${native.device}\n`);
  process.stdout.write(`matrix products: ${native.gemm}${native.blas ? '' : ' (no BLAS found at build time)'}\n`);
  if (native.cudaBuild) {
    const devs = native.cudaDevices ?? [];
    process.stdout.write(`cuda devices: ${devs.length ? devs.map((d) => `${d.name} (sm ${d.computeCapability})`).join(', ') : `none (${native.cudaError ?? ''})`}\n`);
  }
  if (out.model) process.stdout.write(`model: ${JSON.stringify(out.model, null, 2)}\n`);
  return 0;
}
