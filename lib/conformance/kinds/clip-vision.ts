// clip_vision_forward: the CLIP vision encoder of Wan2.1 I2V on the case's pixel_values (family
// `clip`): out.penultimate = hidden_states[-2] (what the pipeline passes to the transformer) and
// out.last_hidden_state = the last layer's output without post_layernorm.
import { resolve } from 'node:path';

import type { NativeImageEncoder } from '../../bindings/native.js';
import { planImageEncoder } from '../../model/image-encoder-plan.js';
import type { CaseManifest } from '../manifest.js';
import type { CaseContext, KindOutputs } from '../types.js';

/** Params that describe the case; the model is whatever `model` holds. */
const KNOWN_PARAMS = ['config', 'image_size', 'patch_size', 'tokens', 'num_hidden_layers', 'hidden_act', 'transformers_version', 'attn_implementation', 'hidden_act_source'];
const OUTPUTS = ['out.penultimate', 'out.last_hidden_state'];

export function clipVisionUnsupported(m: CaseManifest): string | null {
  if (typeof m.model !== 'string') return 'clip_vision_forward needs "model" to name a folder or file';
  const extra = Object.keys(m.params).filter((k) => !KNOWN_PARAMS.includes(k));
  if (extra.length) return `case params not supported yet: ${extra.join(', ')}`;
  if (m.params.hidden_act !== undefined && m.params.hidden_act !== 'gelu') return `params.hidden_act ${JSON.stringify(m.params.hidden_act)} is not implemented (only "gelu")`;
  const unknown = m.outputs.filter((o) => !OUTPUTS.includes(o));
  return unknown.length ? `outputs not produced by this kind: ${unknown.join(', ')}` : null;
}

async function encoderFor(ctx: CaseContext, model: string): Promise<NativeImageEncoder> {
  return ctx.cache.get(`image_encoder:${model}`, async () => {
    const plan = await planImageEncoder(resolve(ctx.root, model));
    const native = await ctx.addon.loadImageEncoder({ config: plan.config, tensors: plan.tensors });
    return { value: native, dispose: () => native.dispose() };
  });
}

export async function runClipVisionForward(ctx: CaseContext): Promise<KindOutputs> {
  const px = ctx.inputs.get('in.pixel_values');
  if (!px) throw new Error('case input in.pixel_values is required');
  const encoder = await encoderFor(ctx, ctx.manifest.model as string);
  const r = await encoder.encode({ pixelValues: px }, { lastLayer: ctx.manifest.outputs.includes('out.last_hidden_state') });
  const out: KindOutputs = new Map([['out.penultimate', r.penultimate]]);
  if (r.lastHiddenState) out.set('out.last_hidden_state', r.lastHiddenState);
  return out;
}
