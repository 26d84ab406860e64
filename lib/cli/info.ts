import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { loadAddon } from '../bindings/loader.js';
import { inspectModelFolder } from '../model/folder.js';
import { WanError } from '../errors.js';
import { estimateMemory, weightBytes } from '../model/memory.js';
import { planTextEncoder } from '../model/text-encoder-plan.js';
import { planTransformer } from '../model/transformer-plan.js';
import { planVae } from '../model/vae-plan.js';
import { defaultsFor } from '../schemas/request.js';
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
    // What the weights occupy once loaded on each backend (matrices may stay at their stored dtype).
    cpuWeightBytes: weightBytes(plan, 'cpu'),
    cudaWeightBytes: weightBytes(plan, 'cuda'),
    config: plan.config,
  };
}

export async function runInfo(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    json: { type: 'boolean', default: false },
    device: { type: 'string' },
    width: { type: 'string' },
    height: { type: 'string' },
    frames: { type: 'string' },
  });
  const size = (flag: 'width' | 'height' | 'frames', fallback: number) => {
    const v = values[flag] === undefined ? fallback : Number(values[flag]);
    if (!Number.isInteger(v) || v < 1) throw new WanError('E_INVALID_ARGUMENT', `--${flag} ${values[flag]}: expected a positive integer`);
    return v;
  };
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
      const plans: TransformerPlan[] = [];
      for (const name of ['transformer', 'transformer_2'] as const) {
        if (!folder.present.includes(name)) continue;
        const plan = await planTransformer(join(target, name), {
          expert: folder.present.includes('transformer_2') ? (name === 'transformer' ? 'high-noise' : 'low-noise') : undefined,
          pairedWith: folder.present.includes('transformer_2'),
        });
        transformers[name] = summarize(plan);
        plans.push(plan);
      }
      out.model = { ...folder, transformers };
      if (plans.length && folder.present.includes('vae')) {
        const d = defaultsFor(plans[0].variant.variant);
        const request = { width: size('width', d.width), height: size('height', d.height), numFrames: size('frames', d.numFrames) };
        const vae = await planVae(join(target, 'vae'));
        const textEncoder = folder.present.includes('text_encoder') ? await planTextEncoder(join(target, 'text_encoder')) : undefined;
        out.memory = { request, cpuEstimate: estimateMemory({ transformers: plans, vae, textEncoder }, request) };
      }
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
  if (out.memory) {
    const m = out.memory as { request: { width: number; height: number; numFrames: number }; cpuEstimate: Record<string, number> };
    const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
    const e = m.cpuEstimate;
    process.stdout.write(
      `memory for ${m.request.width}x${m.request.height}, ${m.request.numFrames} frames on the CPU backend (estimate): ${gib(e.totalBytes)} ` +
        `(weights ${gib(e.weightsBytes)}, transformer activations ${gib(e.transformerActivationsBytes)}, VAE decode ${gib(e.vaeDecodeBytes)})\n`,
    );
  }
  return 0;
}
