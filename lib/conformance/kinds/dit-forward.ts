// dit_forward: one transformer forward on the case's inputs; the sample and every intermediate the
// case holds (out.temb, out.block0, ...) are compared.
import { resolve } from 'node:path';

import type { NativeTensor, NativeTransformer } from '../../bindings/native.js';
import { planTransformer } from '../../model/transformer-plan.js';
import { applyCaseLoras } from '../loras.js';
import type { CaseContext, KindOutputs } from '../types.js';

export async function runDitForward(ctx: CaseContext): Promise<KindOutputs> {
  const { manifest, inputs } = ctx;
  if (typeof manifest.model !== 'string') throw new Error('dit_forward needs "model" to name a folder');
  const model = await ctx.cache.get(`transformer:${manifest.model}`, async () => {
    const plan = await planTransformer(resolve(ctx.root, manifest.model as string));
    const native = await ctx.addon.loadTransformer({ config: plan.config, tensors: plan.tensors });
    return { value: native, dispose: () => native.dispose() };
  });
  await applyCaseLoras(ctx, { native: model as NativeTransformer, folder: manifest.model }, null);
  const need = (name: string): NativeTensor => {
    const t = inputs.get(name);
    if (!t) throw new Error(`case input ${name} is missing`);
    return t;
  };
  const { sample, trace } = await (model as NativeTransformer).forward(
    {
      hiddenStates: need('in.hidden_states'),
      timestep: need('in.timestep'),
      encoderHiddenStates: need('in.encoder_hidden_states'),
      encoderHiddenStatesImage: inputs.get('in.encoder_hidden_states_image'),
    },
    { trace: true },
  );
  const out: KindOutputs = new Map([['out.sample', sample]]);
  for (const [name, t] of Object.entries(trace ?? {})) out.set(`out.${name}`, t);
  return out;
}
