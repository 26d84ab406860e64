// pipeline: whole denoising loops with given text embeddings and initial latents (the fixtures'
// `pipeline` family): guidance, the Wan2.2 expert switch, Wan2.2 I2V/FLF2V channel conditioning,
// TI2V with a clean first frame; out.video is the VAE decode of the final latents.
import { resolve } from 'node:path';

import type { NativeDenoiseOptions, NativeDenoiseResult, NativeStepCache } from '../../bindings/native-pipeline.js';
import type { NativeVae } from '../../bindings/native-vae.js';
import type { NativeTensor, NativeTransformer } from '../../bindings/native.js';
import { planTransformer } from '../../model/transformer-plan.js';
import type { VaeConfig } from '../../model/types.js';
import { planVae } from '../../model/vae-plan.js';
import { imageConditioning } from '../../pipeline/conditioning.js';
import { decodeVideo } from '../../video/vae-decode.js';
import type { CaseManifest } from '../manifest.js';
import { applyCaseLoras, caseLorasUnsupported } from '../loras.js';
import type { CaseContext, KindOutputs } from '../types.js';

const KNOWN = [
  'frames', 'height', 'width', 'scheduler', 'steps', 'shift', 'guidance_scale', 'guidance_scale_2', 'boundary_ratio', 'expand_timesteps',
  // the official Wan loop (teacache family): its sigma grid, and contexts already zero-padded to text_len rows
  'cache', 'sigma_grid', 'text_len', 'context_lens', 'seed',
  'loras',
  // what produced the case (dbcache family): names, not settings
  'reference',
];
const SCHEDULERS: Record<string, NativeDenoiseOptions['scheduler']> = { unipc: { kind: 'unipc' }, dpm: { kind: 'dpmsolver' }, euler: { kind: 'euler' } };

export function pipelineUnsupported(m: CaseManifest): string | null {
  const loras = caseLorasUnsupported(m.params);
  if (loras) return loras;
  const extra = Object.keys(m.params).filter((k) => !KNOWN.includes(k));
  if (extra.length) return `case params not supported yet: ${extra.join(', ')}`;
  if (typeof m.model !== 'object' || m.model === null || typeof m.model.transformer !== 'string') return 'pipeline needs model.transformer';
  if (!(String(m.params.scheduler) in SCHEDULERS)) return `scheduler "${String(m.params.scheduler)}" is not wired into the pipeline case runner`;
  const grid = m.params.sigma_grid;
  if (grid !== undefined && grid !== 'wan' && grid !== 'diffusers') return `sigma_grid "${String(grid)}" is not known`;
  if (grid === 'wan' && m.params.scheduler !== 'unipc') return 'sigma_grid "wan" is the official UniPC grid';
  if (m.params.cache !== undefined) {
    try {
      caseCache(m.params.cache, callsPerStep(m), Number(m.params.steps));
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }
  return null;
}

/** Transformer calls per step: two (cond, uncond) when the case guides, else one. */
function callsPerStep(m: CaseManifest): number {
  return Number(m.params.guidance_scale) > 1 ? 2 : 1;
}

/**
 * A dbcache case's settings, cache-dit's DBCacheConfig fields by name, as the native DBCache takes
 * them. cache-dit's -1 is "no limit"; a max_continuous_cached_steps of 0 (never reuse) has no
 * native form.
 */
function dbCache(c: Record<string, unknown>, perStep: number): NativeStepCache {
  const known = [
    'kind', 'Fn_compute_blocks', 'Bn_compute_blocks', 'residual_diff_threshold', 'max_warmup_steps', 'warmup_interval',
    'max_cached_steps', 'max_continuous_cached_steps', 'enable_separate_cfg',
  ];
  const extra = Object.keys(c).filter((k) => !known.includes(k));
  if (extra.length) throw new Error(`dbcache params not supported: ${extra.join(', ')}`);
  // The native DBCache keeps one state per guidance branch, as cache-dit does when its
  // enable_separate_cfg matches the loop (on with guidance, off without). A mismatch (cache-dit's Wan
  // default, on, in a loop without guidance: it counts alternate calls as cond and uncond at step
  // call / 2) is a cache-dit accounting the runtime does not reproduce. Absent: taken as matching.
  const separate = c.enable_separate_cfg;
  if (separate !== undefined && separate !== (perStep === 2)) {
    throw new Error(
      `dbcache enable_separate_cfg ${String(separate)} with ${perStep === 2 ? 'guidance (two calls per step)' : 'no guidance (one call per step)'}: ` +
        'cache-dit then counts steps across the branches in a way the native DBCache (one state per branch) does not reproduce',
    );
  }
  const int = (key: string, min: number): number => {
    const v = Number(c[key]);
    if (!Number.isInteger(v) || v < min) throw new Error(`dbcache ${key} ${String(c[key])} is not an integer >= ${min}`);
    return v;
  };
  const continuous = int('max_continuous_cached_steps', -1);
  if (continuous === 0) throw new Error('dbcache max_continuous_cached_steps 0 (never reuse) has no native form');
  return {
    kind: 'dbcache',
    threshold: Number(c.residual_diff_threshold),
    fnBlocks: int('Fn_compute_blocks', 1),
    bnBlocks: int('Bn_compute_blocks', 0),
    warmupSteps: int('max_warmup_steps', 0),
    warmupInterval: int('warmup_interval', 1),
    maxCachedSteps: int('max_cached_steps', -1),
    maxConsecutive: continuous < 0 ? 0 : continuous,
  };
}

/**
 * A case's `cache` param as the native loop takes it. The teacache cases count TeaCache's windows
 * in transformer calls (ret_steps, cutoff_steps, num_calls: two per guided step), as the native
 * cache's startCall/endCall do.
 */
function caseCache(raw: unknown, perStep: number, steps: number): NativeStepCache {
  const c = raw as Record<string, unknown>;
  if (c.kind === 'dbcache') return dbCache(c, perStep);
  const threshold = Number(c.threshold);
  if (c.kind === 'fbcache') {
    const extra = Object.keys(c).filter((k) => k !== 'kind' && k !== 'threshold');
    if (extra.length) throw new Error(`fbcache params not supported: ${extra.join(', ')}`);
    return { kind: 'fbcache', threshold };
  }
  if (c.kind !== 'teacache') throw new Error(`cache kind "${String(c.kind)}" is not known`);
  const calls = (key: string): number => {
    const v = Number(c[key]);
    if (!Number.isInteger(v) || v < 0) throw new Error(`teacache ${key} ${String(c[key])} is not a call count`);
    return v;
  };
  // TeaCache restarts its call counter after num_calls; one loop must be exactly that long.
  if (calls('num_calls') !== steps * perStep) throw new Error(`teacache num_calls ${String(c.num_calls)} is not steps x ${perStep}`);
  const indicator = c.indicator === 'e0' ? 'e0' : c.indicator === 'e' ? 'e' : null;
  if (!indicator) throw new Error(`teacache indicator "${String(c.indicator)}" is not known`);
  if ((indicator === 'e0') !== (c.use_ret_steps === true)) throw new Error('teacache: use_ret_steps and indicator disagree');
  const end = calls('cutoff_steps');
  return {
    kind: 'teacache',
    threshold,
    startCall: calls('ret_steps'),
    endCall: end < steps * perStep ? end : undefined,
    coefficients: (c.coefficients as number[]).map(Number),
    indicator,
  };
}

async function transformer(ctx: CaseContext, folder: string): Promise<NativeTransformer> {
  return ctx.cache.get(`transformer:${folder}`, async () => {
    const plan = await planTransformer(resolve(ctx.root, folder));
    const native = await ctx.addon.loadTransformer({ config: plan.config, tensors: plan.tensors });
    return { value: native, dispose: () => native.dispose() };
  });
}

async function vae(ctx: CaseContext, folder: string): Promise<{ vae: NativeVae; config: VaeConfig }> {
  return ctx.cache.get(`vae-with-config:${folder}`, async () => {
    const plan = await planVae(resolve(ctx.root, folder));
    const native = await ctx.addon.loadVae({ config: plan.config, tensors: plan.tensors });
    return { value: { vae: native, config: plan.config }, dispose: () => native.dispose() };
  });
}

export async function runPipeline(ctx: CaseContext): Promise<KindOutputs> {
  const { manifest, inputs } = ctx;
  const p = manifest.params as Record<string, unknown>;
  const models = manifest.model as Record<string, string | null>;
  const need = (...names: string[]): NativeTensor => {
    for (const n of names) {
      const t = inputs.get(n);
      if (t) return t;
    }
    throw new Error(`case input ${names.join(' / ')} is missing`);
  };
  const latents = need('in.latents');
  const [, C, T, h, w] = latents.shape;
  const low = models.transformer_2 ? await transformer(ctx, models.transformer_2) : null;
  const v = models.vae ? await vae(ctx, models.vae) : null;
  const high = await transformer(ctx, models.transformer!);
  await applyCaseLoras(ctx, { native: high, folder: models.transformer! }, low ? { native: low, folder: models.transformer_2! } : null);
  const frames = Number(p.frames);
  const H = Number(p.height);
  const W = Number(p.width);
  const scheduler = { ...SCHEDULERS[String(p.scheduler)], ...(p.sigma_grid === 'wan' ? { sigmaGrid: 'wan' as const } : {}) };
  const steps = Number(p.steps);
  const shift = Number(p.shift);

  const options: Omit<NativeDenoiseOptions, 'transformer'> = {
    transformer2: low,
    scheduler,
    steps,
    shift,
    guidanceScale: Number(p.guidance_scale),
    guidanceScale2: p.guidance_scale_2 === undefined ? undefined : Number(p.guidance_scale_2),
    boundaryTimestep: p.boundary_ratio === undefined ? undefined : Number(p.boundary_ratio) * 1000,
    latents,
    // The official loop's contexts (teacache family) come zero-padded to text_len rows, as its
    // forward pads them; the model attends to every row, as the reference does.
    promptEmbeds: need('in.prompt_embeds', 'in.context'),
    negativeEmbeds: inputs.get('in.negative_prompt_embeds') ?? inputs.get('in.context_null') ?? null,
    perTokenTimesteps: p.expand_timesteps === true,
    recordSteps: true,
    cache: p.cache === undefined ? null : caseCache(p.cache, callsPerStep(manifest), steps),
  };
  const asImage = (t: NativeTensor | undefined) => (t ? { data: t.data, height: t.shape[0], width: t.shape[1] } : undefined);
  const image = asImage(inputs.get('in.image'));
  if (image) {
    if (!v) throw new Error('an image case needs model.vae');
    Object.assign(
      options,
      await imageConditioning(v.vae, v.config, {
        ti2v: p.expand_timesteps === true, frames, height: H, width: W, latentShape: latents.shape, image, lastImage: asImage(inputs.get('in.last_image')),
      }),
    );
  }

  const outputsOf = (r: NativeDenoiseResult, suffix: string): KindOutputs => {
    const n = r.timesteps.length;
    const calls = r.calls.computed.length;
    return new Map([
      [`out.latents${suffix}`, r.latents],
      [`out.latents_per_step${suffix}`, { data: r.latentsPerStep!, shape: [1, n, C, T, h, w] }],
      [`out.expert_per_step${suffix}`, { data: Float32Array.from(r.experts), shape: [n] }],
      [`out.computed${suffix}`, { data: Float32Array.from(r.calls.computed, (c) => (c ? 1 : 0)), shape: [calls] }],
      [`out.accumulated${suffix}`, { data: Float32Array.from(r.calls.accumulated), shape: [calls] }],
      [`out.timesteps${suffix}`, { data: Float32Array.from(r.timesteps), shape: [n] }],
    ]);
  };
  const r = await ctx.addon.runDenoise({ ...options, transformer: high });
  const out = outputsOf(r, '');
  // The same loop on the original-names copy of the weights, held to the same expected tensors.
  if (models.transformer_original) {
    const original = await ctx.addon.runDenoise({ ...options, transformer: await transformer(ctx, models.transformer_original) });
    for (const [k, t] of outputsOf(original, '@original')) out.set(k, t);
  }
  if (manifest.outputs.includes('out.sigmas')) {
    // The schedule of the same native scheduler the loop ran (no model outputs: sigmas only).
    const run = await ctx.addon.runScheduler({ ...scheduler, steps, shift, sample: latents, modelOutputs: { data: new Float32Array(0), shape: [0, ...latents.shape] } });
    out.set('out.sigmas', { data: run.sigmas, shape: [run.sigmas.length] });
  }
  if (manifest.outputs.includes('out.video')) {
    if (!v) throw new Error('out.video needs model.vae');
    out.set('out.video', await decodeVideo(v.vae, r.latents, { latents: 'normalized' }));
  }
  return out;
}
