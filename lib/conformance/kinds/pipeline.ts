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
import { decodeVideo } from '../../video/vae-decode.js';
import type { CaseManifest } from '../manifest.js';
import type { CaseContext, KindOutputs } from '../types.js';

const KNOWN = ['frames', 'height', 'width', 'scheduler', 'steps', 'shift', 'guidance_scale', 'guidance_scale_2', 'boundary_ratio', 'expand_timesteps'];
const SCHEDULERS: Record<string, NativeDenoiseOptions['scheduler']> = { unipc: { kind: 'unipc' }, dpm: { kind: 'dpmsolver' }, euler: { kind: 'euler' } };

export function pipelineUnsupported(m: CaseManifest): string | null {
  if (m.params.cache !== undefined) return 'step caching is not implemented yet (caching issue)';
  if (m.params.loras !== undefined) return 'LoRA is not implemented yet (LoRA issue)';
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

/** RGB 0..255 HWC -> [-1, 1] planes [3, H*W], as the pipelines' video processor does. */
function imageToPlanes(img: NativeTensor): Float32Array {
  const [H, W] = img.shape;
  const out = new Float32Array(3 * H * W);
  for (let i = 0; i < H * W; i++) for (let c = 0; c < 3; c++) out[c * H * W + i] = img.data[i * 3 + c] / 127.5 - 1;
  return out;
}

/** The pipelines' latent normalisation: (mean - latents_mean) / latents_std, per channel. */
function normalizeLatents(t: NativeTensor, cfg: VaeConfig): NativeTensor {
  if (!cfg.latentsMean || !cfg.latentsStd) throw new Error('the VAE config has no latents_mean/latents_std');
  const [B, C] = t.shape;
  const per = t.data.length / (B * C);
  const data = new Float32Array(t.data.length);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < per; i++) {
        const k = (b * C + c) * per + i;
        data[k] = (t.data[k] - cfg.latentsMean[c]) * (1 / cfg.latentsStd[c]);
      }
  return { data, shape: t.shape };
}

/** Encodes a condition video [1, 3, frames, H, W] made of the given frames (others zero). */
async function encodeCondition(v: { vae: NativeVae; config: VaeConfig }, frames: number, H: number, W: number, placed: Array<[number, NativeTensor]>): Promise<NativeTensor> {
  const video = new Float32Array(3 * frames * H * W);
  for (const [f, img] of placed) {
    const planes = imageToPlanes(img);
    for (let c = 0; c < 3; c++) video.set(planes.subarray(c * H * W, (c + 1) * H * W), (c * frames + f) * H * W);
  }
  const { mean } = await v.vae.encode({ data: video, shape: [1, 3, frames, H, W] });
  return normalizeLatents(mean, v.config);
}

/** The 4-channel frame mask of Wan2.2 I2V: 1 on conditioned frames, each latent frame holding 4 video frames (the first repeated 4x). */
function frameMask(frames: number, latentFrames: number, h: number, w: number, conditioned: number[]): Float32Array {
  const perFrame = new Float32Array(frames);
  for (const f of conditioned) perFrame[f] = 1;
  const expanded = [perFrame[0], perFrame[0], perFrame[0], perFrame[0], ...perFrame.subarray(1)];
  const mask = new Float32Array(4 * latentFrames * h * w);
  for (let lf = 0; lf < latentFrames; lf++)
    for (let k = 0; k < 4; k++) mask.fill(expanded[lf * 4 + k], (k * latentFrames + lf) * h * w, (k * latentFrames + lf + 1) * h * w);
  return mask;
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
  const image = inputs.get('in.image');
  const lastImage = inputs.get('in.last_image');
  if (image && p.expand_timesteps === true) {
    // TI2V: the image alone, encoded, becomes the clean first latent frame.
    options.firstFrameCondition = await encodeCondition(v, 1, H, W, [[0, image]]);
  } else if (image) {
    const placed: Array<[number, NativeTensor]> = [[0, image]];
    if (lastImage) placed.push([frames - 1, lastImage]);
    const cond = await encodeCondition(v, frames, H, W, placed);
    const mask = frameMask(frames, T, h, w, placed.map(([f]) => f));
    const data = new Float32Array(mask.length + cond.data.length);
    data.set(mask);
    data.set(cond.data, mask.length);
    options.channelCondition = { data, shape: [1, 4 + cond.shape[1], T, h, w] };
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
