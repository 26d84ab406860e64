// umt5_forward: the encoder on the case's ids and mask. out.last_hidden_state is the raw output,
// out.prompt_embeds what the pipelines pass on (cut at the length, zero-padded), out.seq_lens the
// lengths. With params.original_weights the same case runs again on the official-names copy, whose
// outputs are compared as `<name>@original`.
import { resolve } from 'node:path';

import type { NativeTensor, NativeTextEncoder } from '../../bindings/native.js';
import type { CaseManifest } from '../manifest.js';
import { planTextEncoder } from '../../model/text-encoder-plan.js';
import { toPromptEmbeds } from '../../text/embeddings.js';
import type { CaseContext, KindOutputs } from '../types.js';

const KNOWN_PARAMS = ['prompts', 'max_length', 'tokenizer', 'original_weights'];

export function umt5Unsupported(m: CaseManifest): string | null {
  if (typeof m.model !== 'string') return 'umt5_forward needs "model" to name a folder';
  const extra = Object.keys(m.params).filter((k) => !KNOWN_PARAMS.includes(k));
  return extra.length ? `case params not supported yet: ${extra.join(', ')}` : null;
}

async function encoderFor(ctx: CaseContext, folder: string): Promise<NativeTextEncoder> {
  return ctx.cache.get(`text_encoder:${folder}`, async () => {
    const plan = await planTextEncoder(resolve(ctx.root, folder));
    const native = await ctx.addon.loadTextEncoder({ config: plan.config, tensors: plan.tensors });
    return { value: native, dispose: () => native.dispose() };
  });
}

export async function runUmt5Forward(ctx: CaseContext): Promise<KindOutputs> {
  const ids = ctx.inputs.get('in.ids');
  const mask = ctx.inputs.get('in.mask');
  if (!ids || !mask) throw new Error('case inputs in.ids and in.mask are required');
  const shape = ids.shape as [number, number];
  const request = { ids: Int32Array.from(ids.data), mask: Int32Array.from(mask.data), shape };
  const out: KindOutputs = new Map();
  const folders: Array<[string, string]> = [[ctx.manifest.model as string, '']];
  const original = ctx.manifest.params.original_weights;
  if (typeof original === 'string') folders.push([original, '@original']);
  for (const [folder, suffix] of folders) {
    const hidden = await (await encoderFor(ctx, folder)).encode(request);
    const { embeds, seqLens } = toPromptEmbeds(hidden, request.mask);
    const lens: NativeTensor = { data: Float32Array.from(seqLens), shape: [seqLens.length] };
    out.set(`out.last_hidden_state${suffix}`, hidden);
    out.set(`out.prompt_embeds${suffix}`, embeds);
    out.set(`out.seq_lens${suffix}`, lens);
  }
  return out;
}
