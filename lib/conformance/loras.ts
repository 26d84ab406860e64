// The `loras` param of dit_forward and pipeline cases: [{path, weight, transformer?}], paths
// relative to the fixtures root. Every case of those kinds passes through here, LoRA or not: the
// models are shared between cases, so a case without LoRAs restores the base weights.
import { resolve } from 'node:path';
import { z } from 'zod';

import type { NativeTransformer } from '../bindings/native.js';
import { applyLoras, type LoraLoadReport } from '../lora/apply.js';
import { planTransformer } from '../model/transformer-plan.js';
import type { TransformerConfig } from '../model/types.js';
import type { CaseContext } from './types.js';

const CaseLorasSchema = z.array(
  z.strictObject({
    path: z.string().min(1),
    weight: z.number().default(1),
    transformer: z.enum(['high', 'low', 'both']).optional(),
  }),
);

/** Why a case's `loras` param cannot be run, or null. */
export function caseLorasUnsupported(params: Record<string, unknown>): string | null {
  if (params.loras === undefined) return null;
  const r = CaseLorasSchema.safeParse(params.loras);
  return r.success ? null : `params.loras is not a list of {path, weight, transformer}: ${r.error.issues[0]?.message}`;
}

async function configOf(ctx: CaseContext, folder: string): Promise<TransformerConfig> {
  return ctx.cache.get(`transformer-config:${folder}`, async () => ({
    value: (await planTransformer(resolve(ctx.root, folder))).config,
    dispose: () => undefined,
  }));
}

/** Merge the case's LoRAs into the (cached) transformers, or restore their base when it has none. */
export async function applyCaseLoras(
  ctx: CaseContext,
  high: { native: NativeTransformer; folder: string },
  low: { native: NativeTransformer; folder: string } | null,
): Promise<LoraLoadReport> {
  const list = CaseLorasSchema.parse(ctx.manifest.params.loras ?? []);
  return applyLoras(
    {
      high: { native: high.native, config: await configOf(ctx, high.folder) },
      low: low ? { native: low.native, config: await configOf(ctx, low.folder) } : null,
    },
    list.map((l) => ({ path: resolve(ctx.root, l.path), weight: l.weight, transformer: l.transformer })),
    { field: 'params.loras' },
  );
}
