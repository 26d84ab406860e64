// LoRAs onto the experts of a loaded pipeline: which LoRA goes to which transformer, one native
// merge per transformer (restoring the base first, so the previous request's LoRAs go away), and
// the load report the job result carries.

import { stat } from 'node:fs/promises';
import type { NativeTransformer } from '../bindings/native.js';
import { WanError } from '../errors.js';
import type { TransformerConfig } from '../model/types.js';
import { type LoraPlan, type LoraReport, combineLoraPlans, planLora } from './plan.js';

export type LoraTransformer = 'high' | 'low' | 'both';
export type ExpertName = 'high-noise' | 'low-noise';

export interface LoraRequest {
  path: string;
  weight: number;
  transformer?: LoraTransformer;
}

export interface ExpertLoraReport extends LoraReport {
  /** The transformer it was merged into ('high-noise' is the only one of a single-transformer model). */
  transformer: ExpertName;
}

export interface LoraMergeCost {
  transformer: ExpertName;
  /** Weights written. */
  targets: number;
  /** Merged copies held beside the base weights while LoRAs are merged: the extra memory they cost. */
  baseBytes: number;
  /** Targets whose loaded weight is narrow or quantized (bf16, fp8, GGUF Q4_K, ...), by stored
   * dtype: each was dequantized and merged exactly into a wider copy (float32 on the CPU, bf16 on
   * CUDA), never re-quantized, so the merge loses nothing to the base's format. */
  widened: Record<string, number>;
  /** Restore + merge time. */
  ms: number;
}

export interface LoraLoadReport {
  loras: ExpertLoraReport[];
  merges: LoraMergeCost[];
}

export interface LoraExpert {
  native: NativeTransformer;
  config: TransformerConfig;
}

export interface ApplyLorasOptions {
  /** How the list is named in messages: `loras` (default), `lora` (Runware), `fast`. */
  field?: string;
  /** A path that names a field of its own (fast mode's pair), for messages. */
  fieldOf?: (index: number) => string;
}

const LIST = 3;

/**
 * Merge `loras` into the experts (`low` null for a single-transformer model, which takes every
 * LoRA whatever its `transformer`), replacing whatever was merged before. An empty list restores
 * the base weights. A LoRA none of whose keys fit the model is refused, naming the reasons.
 */
export async function applyLoras(experts: { high: LoraExpert; low: LoraExpert | null }, loras: readonly LoraRequest[], opts: ApplyLorasOptions = {}): Promise<LoraLoadReport> {
  const field = (i: number) => opts.fieldOf?.(i) ?? `${opts.field ?? 'loras'}[${i}].path`;
  for (const [i, l] of loras.entries()) {
    if (/^https?:\/\//i.test(l.path)) {
      throw new WanError('E_UNSUPPORTED', `${field(i)}: "${l.path}" is a URL; LoRAs are not downloaded: fetch the .safetensors file and pass its path`);
    }
    const s = await stat(l.path).catch(() => null);
    if (!s?.isFile()) throw new WanError('E_INVALID_ARGUMENT', `${field(i)}: no LoRA file at "${l.path}"`);
  }
  const targets: Array<[ExpertName, LoraExpert, Array<[number, LoraRequest]>]> = [];
  const indexed = loras.map((l, i) => [i, l] as [number, LoraRequest]);
  if (experts.low === null) targets.push(['high-noise', experts.high, indexed]);
  else {
    targets.push(['high-noise', experts.high, indexed.filter(([, l]) => (l.transformer ?? 'both') !== 'low')]);
    targets.push(['low-noise', experts.low, indexed.filter(([, l]) => (l.transformer ?? 'both') !== 'high')]);
  }

  // Plan everything before touching a weight: a refused LoRA leaves the models as they were.
  const planned: Array<[ExpertName, LoraExpert, LoraPlan[]]> = [];
  const report: LoraLoadReport = { loras: [], merges: [] };
  for (const [name, expert, list] of targets) {
    const plans: LoraPlan[] = [];
    for (const [i, l] of list) {
      const plan = await planLora(l.path, expert.config, { weight: l.weight, id: `${name}:${i}` });
      if (plan.report.applied === 0) {
        const reasons = [...new Set(plan.report.unmatched.map((u) => u.reason))];
        throw new WanError(
          'E_INVALID_ARGUMENT',
          `${field(i)}: none of the ${plan.report.unmatched.length} keys of "${l.path}" fit the ${name} transformer: ${reasons.slice(0, LIST).join('; ')}${reasons.length > LIST ? ` and ${reasons.length - LIST} more reasons` : ''} (e.g. "${plan.report.unmatched[0]?.key ?? ''}")`,
        );
      }
      plans.push(plan);
      report.loras.push({ ...plan.report, transformer: name });
    }
    planned.push([name, expert, plans]);
  }
  for (const [name, expert, plans] of planned) {
    const cost = await expert.native.applyLoras(combineLoraPlans(plans));
    report.merges.push({ transformer: name, ...cost });
  }
  return report;
}

/** One line per LoRA with unmatched keys, for warning events. */
export function unmatchedWarnings(report: LoraLoadReport): string[] {
  return report.loras
    .filter((l) => l.unmatched.length > 0)
    .map((l) => {
      const shown = l.unmatched.slice(0, LIST).map((u) => `"${u.key}" (${u.reason})`).join(', ');
      const more = l.unmatched.length > LIST ? ` and ${l.unmatched.length - LIST} more` : '';
      return `LoRA ${l.file} on the ${l.transformer} transformer: ${l.unmatched.length} key(s) matched nothing and were skipped: ${shown}${more}`;
    });
}
