// Runs every case under <root>/cases against the runtime: kinds with a runner are compared tensor by
// tensor at the manifest's tolerance; kinds not implemented yet are SKIP with the reason, never PASS.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { NativeAddon } from '../bindings/native.js';
import { readSafetensorsF32 } from '../model/safetensors.js';
import { relL2 } from './compare.js';
import { runDitForward } from './kinds/dit-forward.js';
import { clipVisionUnsupported, runClipVisionForward } from './kinds/clip-vision.js';
import { i2vInputsUnsupported, runI2vInputs } from './kinds/i2v-inputs.js';
import { clipPreprocessUnsupported, imagePreprocessUnsupported, runClipPreprocess, runImagePreprocess } from './kinds/image.js';
import { runGgufDequant } from './kinds/gguf-dequant.js';
import { caseLorasUnsupported } from './loras.js';
import { runTokenizerCase, tokenizerUnsupported } from './kinds/tokenizer.js';
import { pipelineUnsupported, runPipeline } from './kinds/pipeline.js';
import { randnUnsupported, runRandn } from './kinds/randn.js';
import { rifeUnsupported, runRifeInterpolate } from './kinds/rife.js';
import { runScheduler, schedulerUnsupported } from './kinds/scheduler.js';
import { runUmt5Forward, umt5Unsupported } from './kinds/umt5-forward.js';
import { runVaeDecode, runVaeEncode, vaeUnsupported } from './kinds/vae.js';
import { readManifest, type CaseManifest } from './manifest.js';
import { caseTolerance } from './tolerances.js';
import type { CaseResult, ConformanceReport, KindRunner, ModelCache } from './types.js';

interface KindSupport {
  run: KindRunner;
  /** Why this runtime cannot run a case of this kind yet (a param it does not implement), or null. */
  unsupported(manifest: CaseManifest): string | null;
}

const RUNNERS: Record<string, KindSupport> = {
  dit_forward: {
    run: runDitForward,
    unsupported: (m) =>
      caseLorasUnsupported(m.params) ??
      unknownParams(m, ['layout', 'same_as', 'diffusers_model', 'loras', ...GGUF_CASE_PARAMS]),
  },
  gguf_dequant: { run: runGgufDequant, unsupported: (m) => unknownParams(m, ['types', 'rows', 'cols', 'seed']) },
  tokenizer: { run: runTokenizerCase, unsupported: tokenizerUnsupported },
  umt5_forward: { run: runUmt5Forward, unsupported: umt5Unsupported },
  vae_decode: { run: runVaeDecode, unsupported: vaeUnsupported },
  vae_encode: { run: runVaeEncode, unsupported: vaeUnsupported },
  scheduler: { run: runScheduler, unsupported: schedulerUnsupported },
  randn: { run: runRandn, unsupported: randnUnsupported },
  pipeline: { run: runPipeline, unsupported: pipelineUnsupported },
  image_preprocess: { run: runImagePreprocess, unsupported: imagePreprocessUnsupported },
  clip_preprocess: { run: runClipPreprocess, unsupported: clipPreprocessUnsupported },
  clip_vision_forward: { run: runClipVisionForward, unsupported: clipVisionUnsupported },
  i2v_inputs: { run: runI2vInputs, unsupported: i2vInputsUnsupported },
  rife_interpolate: { run: runRifeInterpolate, unsupported: rifeUnsupported },
};

/** The gguf family's params: descriptions of the file (its KV, the type of every tensor), the
 * config the plan reads from the config.json beside the file (checked against the weights), and
 * `dequant_outputs`, which runDitForward produces. */
const GGUF_CASE_PARAMS = ['gguf', 'quant_type', 'type_counts', 'tensor_types', 'config', 'diffusers_config', 'dequant_outputs'];

function unknownParams(m: CaseManifest, known: string[]): string | null {
  const extra = Object.keys(m.params).filter((k) => !known.includes(k));
  return extra.length ? `case params not supported yet: ${extra.join(', ')}` : null;
}

export interface RunOptions {
  families?: string[];
  /** Only cases whose "family/case" name matches. */
  filter?: RegExp;
  onResult?: (r: CaseResult) => void;
}

export async function listCases(root: string, families?: string[]): Promise<string[]> {
  const casesDir = join(root, 'cases');
  if (!existsSync(casesDir)) throw new Error(`${root}: no cases/ folder (expected the layout of shared/fixtures)`);
  const out: string[] = [];
  for (const family of (await readdir(casesDir)).sort()) {
    if (families?.length && !families.includes(family)) continue;
    const dir = join(casesDir, family);
    for (const name of (await readdir(dir)).sort()) {
      if (existsSync(join(dir, name, 'manifest.json'))) out.push(`${family}/${name}`);
    }
  }
  return out;
}

function makeCache(): ModelCache & { disposeAll(): void } {
  const entries = new Map<string, Promise<{ value: unknown; dispose: () => void }>>();
  return {
    async get<T>(key: string, load: () => Promise<{ value: T; dispose: () => void }>): Promise<T> {
      let p = entries.get(key);
      if (!p) {
        p = load();
        entries.set(key, p);
      }
      return (await p).value as T;
    },
    disposeAll() {
      for (const p of entries.values()) p.then((e) => e.dispose(), () => undefined);
      entries.clear();
    },
  };
}

export async function runCase(
  root: string,
  name: string,
  addon: NativeAddon,
  cache: ModelCache,
  backend: 'cpu' | 'cuda' = addon.info().backend,
): Promise<CaseResult> {
  const dir = join(root, 'cases', name);
  let manifest;
  try {
    manifest = await readManifest(join(dir, 'manifest.json'));
  } catch (err) {
    return { case: name, status: 'fail', reason: err instanceof Error ? err.message : String(err) };
  }
  const support = RUNNERS[manifest.kind];
  if (!support) {
    return { case: name, status: 'skip', reason: `unknown case kind "${manifest.kind}"` };
  }
  const unsupported = support.unsupported(manifest);
  if (unsupported) return { case: name, status: 'skip', reason: unsupported };
  try {
    const tensors = await readSafetensorsF32(join(dir, 'tensors.safetensors'));
    const inputs = new Map([...tensors].filter(([k]) => manifest.inputs.includes(k)));
    const outputs = await support.run({ root, manifest, inputs, addon, cache });
    const errors: Record<string, number> = {};
    let worst = 0;
    let worstTensor = '';
    const problems: string[] = [];
    // A runner may produce an output twice (e.g. `out.x@original` from a second copy of the
    // weights); every copy is held to the expected tensor of its base name.
    const compared = [
      ...manifest.outputs,
      ...[...outputs.keys()].filter((k) => k.includes('@') && manifest.outputs.includes(k.slice(0, k.indexOf('@')))),
    ];
    for (const out of compared) {
      const expected = tensors.get(out.split('@')[0]);
      const ours = outputs.get(out);
      let e: number;
      if (!expected) {
        problems.push(`${out} is not in tensors.safetensors`);
        e = Infinity;
      } else if (!ours) {
        problems.push(`${out} was not produced`);
        e = Infinity;
      } else if (ours.shape.join(',') !== expected.shape.join(',')) {
        problems.push(`${out} has shape [${ours.shape}] but the case expects [${expected.shape}]`);
        e = Infinity;
      } else {
        e = relL2(ours.data, expected.data);
      }
      errors[out] = e;
      if (e > worst || !worstTensor) {
        worst = e;
        worstTensor = out;
      }
    }
    // On CUDA the family's bf16 bound (lib/conformance/tolerances.ts), on the CPU the manifest's.
    const tol = caseTolerance(name.split('/')[0], manifest, backend);
    const pass = problems.length === 0 && Object.values(errors).every((e) => e <= tol);
    const result: CaseResult = { case: name, status: pass ? 'pass' : 'fail', worst, worstTensor, tolerance: tol, tensors: errors };
    if (!pass) result.reason = problems.length ? problems.join('; ') : `${worstTensor} rel_l2 ${worst.toExponential(2)} > tolerance ${tol}`;
    return result;
  } catch (err) {
    return { case: name, status: 'fail', reason: err instanceof Error ? err.message : String(err) };
  }
}

export async function runConformance(root: string, addon: NativeAddon, opts: RunOptions = {}): Promise<ConformanceReport> {
  const names = (await listCases(root, opts.families)).filter((n) => !opts.filter || opts.filter.test(n));
  const cache = makeCache();
  const report: ConformanceReport = { cases: [], passed: 0, failed: 0, skipped: 0 };
  const backend = addon.info().backend;
  try {
    for (const name of names) {
      const r = await runCase(root, name, addon, cache, backend);
      report.cases.push(r);
      if (r.status === 'pass') report.passed++;
      else if (r.status === 'fail') report.failed++;
      else report.skipped++;
      opts.onResult?.(r);
    }
  } finally {
    cache.disposeAll();
  }
  return report;
}

export function formatResult(r: CaseResult): string {
  const status = r.status.toUpperCase();
  if (r.status === 'skip') return `SKIP ${r.case} - - (${r.reason})`;
  const worst = r.worst === undefined ? '-' : Number.isFinite(r.worst) ? r.worst.toExponential(2) : 'inf';
  const line = `${status} ${r.case} ${worst} ${r.worstTensor ?? '-'}`;
  return r.status === 'fail' && r.reason ? `${line} (${r.reason})` : line;
}

export function formatSummary(r: ConformanceReport): string {
  return `${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`;
}
