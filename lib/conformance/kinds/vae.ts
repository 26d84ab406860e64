// vae_decode / vae_encode: the Wan VAE on the case's raw latents (decode: out.video, clamped to
// [-1, 1]) or video (encode: posterior mean and log-variance). Layout cases point `model` at the
// original-names copy; their other params only say which diffusers case they mirror.
import { resolve } from 'node:path';

import type { NativeVae } from '../../bindings/native-vae.js';
import type { NativeTensor } from '../../bindings/native.js';
import { planVae } from '../../model/vae-plan.js';
import { decodeVideo } from '../../video/vae-decode.js';
import type { CaseManifest } from '../manifest.js';
import type { CaseContext, KindOutputs } from '../types.js';

const INFORMATIONAL_PARAMS = ['layout', 'same_as', 'diffusers_model'];

export function vaeUnsupported(m: CaseManifest): string | null {
  if (typeof m.model !== 'string') return `${m.kind} needs "model" to name a folder`;
  const extra = Object.keys(m.params).filter((k) => !INFORMATIONAL_PARAMS.includes(k));
  return extra.length ? `case params not supported yet: ${extra.join(', ')}` : null;
}

async function vaeFor(ctx: CaseContext): Promise<NativeVae> {
  const folder = ctx.manifest.model as string;
  return ctx.cache.get(`vae:${folder}`, async () => {
    const plan = await planVae(resolve(ctx.root, folder));
    const native = await ctx.addon.loadVae({ config: plan.config, tensors: plan.tensors });
    return { value: native, dispose: () => native.dispose() };
  });
}

function input(ctx: CaseContext, name: string): NativeTensor {
  const t = ctx.inputs.get(name);
  if (!t) throw new Error(`case input ${name} is missing`);
  return t;
}

export async function runVaeDecode(ctx: CaseContext): Promise<KindOutputs> {
  // The cases hold the VAE's own latents: no pipeline normalisation to undo.
  const video = await decodeVideo(await vaeFor(ctx), input(ctx, 'in.z'), { latents: 'raw' });
  return new Map([['out.video', video]]);
}

export async function runVaeEncode(ctx: CaseContext): Promise<KindOutputs> {
  const { mean, logvar } = await (await vaeFor(ctx)).encode(input(ctx, 'in.video'));
  return new Map([
    ['out.mean', mean],
    ['out.logvar', logvar],
  ]);
}
