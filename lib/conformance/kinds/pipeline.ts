// pipeline: whole denoising loops with given text embeddings and initial latents (the fixtures'
// `pipeline` family): guidance, the Wan2.2 expert switch, Wan2.2 I2V/FLF2V channel conditioning,
// TI2V with a clean first frame; out.video is the VAE decode of the final latents.
import { resolve } from 'node:path';

import type { NativeDenoiseOptions } from '../../bindings/native-pipeline.js';
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

const KNOWN = ['frames', 'height', 'width', 'scheduler', 'steps', 'shift', 'guidance_scale', 'guidance_scale_2', 'boundary_ratio', 'expand_timesteps', 'loras'];
const SCHEDULERS: Record<string, NativeDenoiseOptions['scheduler']> = { unipc: { kind: 'unipc' }, dpm: { kind: 'dpmsolver' }, euler: { kind: 'euler' } };

export function pipelineUnsupported(m: CaseManifest): string | null {
  if (m.params.cache !== undefined) return 'step caching is not implemented yet (caching issue)';
  const loras = caseLorasUnsupported(m.params);
  if (loras) return loras;
  if (m.params.sigma_grid !== undefined) return 'the official Wan loop of the teacache cases is not wired yet (caching issue)';
  const extra = Object.keys(m.params).filter((k) => !KNOWN.includes(k));
  if (extra.length) return `case params not supported yet: ${extra.join(', ')}`;
  if (typeof m.model !== 'object' || m.model === null || typeof m.model.transformer !== 'string') return 'pipeline needs model.transformer';
  if (!(String(m.params.scheduler) in SCHEDULERS)) return `scheduler "${String(m.params.scheduler)}" is not wired into the pipeline case runner`;
  return null;
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
  const p = manifest.params as Record<string, number | string | boolean | undefined>;
  const models = manifest.model as Record<string, string | null>;
  const need = (n: string): NativeTensor => {
    const t = inputs.get(n);
    if (!t) throw new Error(`case input ${n} is missing`);
    return t;
  };
  const latents = need('in.latents');
  const [, C, T, h, w] = latents.shape;
  const high = await transformer(ctx, models.transformer!);
  const low = models.transformer_2 ? await transformer(ctx, models.transformer_2) : null;
  const v = await vae(ctx, models.vae!);
  await applyCaseLoras(ctx, { native: high, folder: models.transformer! }, low ? { native: low, folder: models.transformer_2! } : null);
  const frames = Number(p.frames);
  const H = Number(p.height);
  const W = Number(p.width);

  const options: NativeDenoiseOptions = {
    transformer: high,
    transformer2: low,
    scheduler: SCHEDULERS[String(p.scheduler)],
    steps: Number(p.steps),
    shift: Number(p.shift),
    guidanceScale: Number(p.guidance_scale),
    guidanceScale2: p.guidance_scale_2 === undefined ? undefined : Number(p.guidance_scale_2),
    boundaryTimestep: p.boundary_ratio === undefined ? undefined : Number(p.boundary_ratio) * 1000,
    latents,
    promptEmbeds: need('in.prompt_embeds'),
    negativeEmbeds: inputs.get('in.negative_prompt_embeds') ?? null,
    perTokenTimesteps: p.expand_timesteps === true,
    recordSteps: true,
  };
  const asImage = (t: NativeTensor | undefined) => (t ? { data: t.data, height: t.shape[0], width: t.shape[1] } : undefined);
  const image = asImage(inputs.get('in.image'));
  if (image) {
    Object.assign(
      options,
      await imageConditioning(v.vae, v.config, {
        ti2v: p.expand_timesteps === true, frames, height: H, width: W, latentShape: latents.shape, image, lastImage: asImage(inputs.get('in.last_image')),
      }),
    );
  }
  const r = await ctx.addon.runDenoise(options);
  const steps = r.timesteps.length;
  const out: KindOutputs = new Map([
    ['out.latents', r.latents],
    ['out.latents_per_step', { data: r.latentsPerStep!, shape: [1, steps, C, T, h, w] }],
    ['out.expert_per_step', { data: Float32Array.from(r.experts), shape: [steps] }],
  ]);
  if (manifest.outputs.includes('out.video')) out.set('out.video', await decodeVideo(v.vae, r.latents, { latents: 'normalized' }));
  return out;
}
