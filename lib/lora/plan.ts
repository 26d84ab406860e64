// planLora: a LoRA file read against a transformer config. Every key either becomes part of a
// merge update (canonical target, scale, byte ranges the native side reads) or is reported as
// unmatched with the likely reason; nothing is dropped silently.
//
// Scale: weight x alpha / rank when the file gives alpha for a pair, else weight (peft files and
// alpha-less kohya files: W += weight * up @ down). Full deltas (`diff`, `diff_b`) scale by weight.

import { basename } from 'node:path';
import { ModelFormatError } from '../errors.js';
import type { NativeLoraUpdate, NativeTensorSpec } from '../bindings/native.js';
import { FORMAT_DTYPES } from '../model/component-plan.js';
import { WAN_TRANSFORMER_KEYMAP, mapKeys } from '../model/keymap.js';
import { type SafetensorsEntry, decodeToF32, fmtShape, numel, readSafetensorsHeader, readTensorBytes } from '../model/safetensors.js';
import { expectedTransformerTensorSpecs } from '../model/transformer-tensors.js';
import type { TransformerConfig } from '../model/types.js';
import { type LoraKeyStyle, type LoraPart, parseLoraKey } from './keys.js';

export interface UnmatchedKey {
  key: string;
  reason: string;
}

export interface LoraReport {
  file: string;
  weight: number;
  /** Key styles found in the file. */
  styles: LoraKeyStyle[];
  /** Canonical module (block index as `{n}`) -> LoRA keys applied to it. */
  matched: Record<string, number>;
  unmatched: UnmatchedKey[];
  /** Keys applied. */
  applied: number;
  /** Keys not applied (the unmatched ones). */
  skipped: number;
}


export interface LoraMergeSet {
  tensors: NativeTensorSpec[];
  updates: NativeLoraUpdate[];
}

export interface LoraPlan extends LoraMergeSet {
  report: LoraReport;
}

export interface PlanLoraOptions {
  weight?: number;
  /** Prefix of the tensor ids handed to the native side (unique per LoRA of one merge). */
  id?: string;
}

/** Hidden sizes of the released Wan transformers, to name a LoRA's model in messages. */
const MODEL_BY_DIM: Record<number, string> = {
  1536: 'Wan2.1 T2V 1.3B',
  3072: 'Wan2.2 TI2V 5B',
  5120: 'a Wan 14B model (Wan2.1 14B, Wan2.2 A14B)',
};
const describeDim = (d: number) => `dim ${d}${MODEL_BY_DIM[d] ? `, ${MODEL_BY_DIM[d]}` : ''}`;
const IMAGE_MODULES = /(add_k_proj|add_v_proj|norm_added_k|image_embedder|k_img|v_img|img_emb)/;

interface Group {
  module: string;
  parts: Partial<Record<LoraPart, SafetensorsEntry>>;
}

/** Why a module the key names is not in this model. */
function whyNoModule(module: string, canonical: string | null, c: TransformerConfig): string {
  const name = canonical ?? module;
  const block = /^blocks\.(\d+)\./.exec(name);
  if (block && Number(block[1]) >= c.numLayers) {
    return `block ${block[1]} does not exist: this model has ${c.numLayers} blocks (a LoRA for a deeper model, e.g. the 40-block Wan 14B)`;
  }
  if (IMAGE_MODULES.test(name) && c.imageDim === null) {
    return `image-to-video LoRA: "${name}" exists only in the Wan2.1 image-to-video models (CLIP image cross-attention); this model has no image branch`;
  }
  if (/\.norm2$/.test(name) && !c.crossAttnNorm) return `"${name}": this model has no cross-attention norm (cross_attn_norm false)`;
  return `no module "${name}" in the Wan transformer`;
}

/** Why a LoRA product of shape [out, in] does not fit the weight [wOut, wIn]. */
function whyShape(target: string, out: number, inp: number, wShape: readonly number[], c: TransformerConfig): string {
  const dim = c.numHeads * c.headDim;
  const wOut = wShape[0];
  const wIn = numel(wShape) / wOut;
  const [pt, ph, pw] = c.patchSize;
  if (target === 'patch_embedding.weight' && out === wOut) {
    const ch = inp / (pt * ph * pw);
    const hint = ch === 36 ? ' (an image-to-video LoRA: Wan2.2 I2V takes 16 noise + 20 condition channels)' : ch === 48 ? ' (a Wan2.2 TI2V 5B LoRA)' : '';
    return `the LoRA's patch embedding takes ${ch} input channels but this model takes ${c.inChannels}${hint}`;
  }
  const loraDim = out === wOut ? inp : out;
  const sizeHint = loraDim !== dim && (out === loraDim || inp === loraDim) ? ` (LoRA ${describeDim(loraDim)}; this model ${describeDim(dim)})` : '';
  return `a LoRA for another model size: its update of "${target}" is [${out},${inp}] but the weight is [${wOut},${wIn}]${sizeHint}`;
}

export async function planLora(file: string, config: TransformerConfig, opts: PlanLoraOptions = {}): Promise<LoraPlan> {
  const weight = opts.weight ?? 1;
  const id = opts.id ?? 'lora';
  const header = await readSafetensorsHeader(file, { displayName: basename(file) });
  const specs = expectedTransformerTensorSpecs(config);
  const report: LoraReport = { file, weight, styles: [], matched: {}, unmatched: [], applied: 0, skipped: 0 };
  const styles = new Set<LoraKeyStyle>();
  const unmatched = (key: string, reason: string) => report.unmatched.push({ key, reason });

  // Keys -> modules.
  const groups = new Map<string, Group>();
  for (const e of header.tensors) {
    const r = parseLoraKey(e.name);
    if (!r.ok) {
      unmatched(e.name, r.reason);
      continue;
    }
    const { module, part, style } = r.parsed;
    // alpha and diffs are spelled alike in every style: the pairs tell the style.
    if (part === 'down' || part === 'up') styles.add(style);
    let g = groups.get(module);
    if (!g) groups.set(module, (g = { module, parts: {} }));
    if (g.parts[part]) unmatched(e.name, `a second "${part}" tensor for module "${module}"`);
    else g.parts[part] = e;
  }
  report.styles = [...styles];

  // Modules -> canonical names, through the transformer's key table (detects the layout once).
  const asWeights = [...groups.keys()].map((m) => `${m}.weight`);
  const byWeight = mapKeys(asWeights, WAN_TRANSFORMER_KEYMAP).tensors;
  const asParams = mapKeys([...groups.keys()], WAN_TRANSFORMER_KEYMAP).tensors;
  const canonicalOf = (m: string): string | null => byWeight.get(`${m}.weight`)?.slice(0, -'.weight'.length) ?? null;

  // alpha scalars, read in one pass.
  const alphaEntries = [...groups.values()].map((g) => g.parts.alpha).filter((e): e is SafetensorsEntry => e !== undefined);
  const alphaBytes = alphaEntries.length ? await readTensorBytes(file, alphaEntries) : [];
  const alphas = new Map(alphaEntries.map((e, i) => [e.name, decodeToF32(e.dtype, alphaBytes[i])[0]]));

  const tensors: NativeTensorSpec[] = [];
  const updates: NativeLoraUpdate[] = [];
  const ref = (e: SafetensorsEntry, shape: number[]): string => {
    const name = `${id}:${e.name}`;
    tensors.push({ name, file, offset: e.offset, length: e.length, dtype: e.dtype as NativeTensorSpec['dtype'], shape });
    return name;
  };
  const applied = (canonicalModule: string, keys: number) => {
    const group = canonicalModule.replace(/^blocks\.\d+\./, 'blocks.{n}.');
    report.matched[group] = (report.matched[group] ?? 0) + keys;
    report.applied += keys;
  };
  const readable = FORMAT_DTYPES.safetensors;
  const badDtype = (e: SafetensorsEntry) =>
    (readable as string[]).includes(e.dtype) ? null : `dtype ${e.dtype} is not supported (${readable.join(', ')})`;

  for (const g of groups.values()) {
    const { down, up, alpha, diff, diff_b: diffB } = g.parts;
    const canonical = canonicalOf(g.module);
    const wName = canonical !== null ? `${canonical}.weight` : null;
    const w = wName !== null ? specs.get(wName) : undefined;
    const rejectAll = (reason: string) => {
      for (const e of [down, up, alpha, diff, diffB]) if (e) unmatched(e.name, reason);
    };

    // The full-parameter form: `blocks.N.modulation.diff` targets a parameter, not a module weight.
    if (!w) {
      const param = asParams.get(g.module);
      if (diff && !down && !up && !diffB && !alpha && param && specs.has(param)) {
        const shape = specs.get(param)!.shape;
        if (numel(diff.shape) !== numel(shape)) unmatched(diff.name, whyShape(param, diff.shape[0] ?? 1, numel(diff.shape) / (diff.shape[0] ?? 1), shape, config));
        else if (badDtype(diff)) unmatched(diff.name, badDtype(diff)!);
        else {
          updates.push({ target: param, scale: weight, diff: ref(diff, [...shape]) });
          applied(param, 1);
        }
        continue;
      }
      rejectAll(whyNoModule(g.module, canonical, config));
      continue;
    }
    const cName = canonical!;

    // Low-rank pair.
    if (down || up) {
      if (!down || !up) {
        const have = (down ?? up)!;
        unmatched(have.name, `${down ? 'lora_down/lora_A' : 'lora_up/lora_B'} without its ${down ? 'lora_up/lora_B' : 'lora_down/lora_A'}`);
        if (alpha) unmatched(alpha.name, 'alpha of an incomplete pair');
      } else {
        const rank = down.shape[0];
        const upOk = up.shape.length >= 2 && up.shape[1] === rank && up.shape.slice(2).every((d) => d === 1);
        const out = up.shape[0];
        const inp = numel(down.shape) / rank;
        const wOut = w.shape[0];
        const reason =
          down.shape.length < 2 || !upOk
            ? `lora_up ${fmtShape(up.shape)} and lora_down ${fmtShape(down.shape)} do not share a rank`
            : out !== wOut || out * inp !== numel(w.shape)
              ? whyShape(wName!, out, inp, w.shape, config)
              : (badDtype(down) ?? badDtype(up));
        if (reason) {
          unmatched(down.name, reason);
          unmatched(up.name, reason);
          if (alpha) unmatched(alpha.name, reason);
        } else {
          let scale = weight;
          if (alpha) {
            const a = alphas.get(alpha.name)!;
            if (numel(alpha.shape) !== 1 || !Number.isFinite(a)) {
              throw new ModelFormatError(`${basename(file)}: "${alpha.name}" must be one finite number (got shape ${fmtShape(alpha.shape)})`, { file, tensor: alpha.name });
            }
            scale = (weight * a) / rank;
          }
          updates.push({ target: wName!, scale, up: ref(up, [out, rank]), down: ref(down, [rank, inp]) });
          applied(cName, alpha ? 3 : 2);
        }
      }
    } else if (alpha) {
      unmatched(alpha.name, 'alpha without lora_down/lora_up');
    }

    if (diff) {
      const reason =
        numel(diff.shape) !== numel(w.shape) || diff.shape[0] !== w.shape[0]
          ? whyShape(wName!, diff.shape[0], numel(diff.shape) / diff.shape[0], w.shape, config)
          : badDtype(diff);
      if (reason) unmatched(diff.name, reason);
      else {
        updates.push({ target: wName!, scale: weight, diff: ref(diff, [...w.shape]) });
        applied(cName, 1);
      }
    }
    if (diffB) {
      const bName = `${cName}.bias`;
      const b = specs.get(bName);
      const reason = !b
        ? `"${cName}" has no bias in this model`
        : numel(diffB.shape) !== numel(b.shape)
          ? `diff_b ${fmtShape(diffB.shape)} does not fit the bias ${fmtShape(b.shape)}: a LoRA for another model size (LoRA ${describeDim(numel(diffB.shape))}; this model ${describeDim(b.shape[0])})`
          : badDtype(diffB);
      if (reason) unmatched(diffB.name, reason);
      else {
        updates.push({ target: bName, scale: weight, diff: ref(diffB, [...b!.shape]) });
        applied(cName, 1);
      }
    }
  }
  report.skipped = report.unmatched.length;
  return { report, tensors, updates };
}

/** Several LoRAs for one transformer, merged in one call (applying restores the base first). */
export function combineLoraPlans(plans: readonly LoraMergeSet[]): LoraMergeSet {
  return { tensors: plans.flatMap((p) => p.tensors), updates: plans.flatMap((p) => p.updates) };
}
