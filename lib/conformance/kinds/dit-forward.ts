// dit_forward: one transformer forward on the case's inputs; the sample and every intermediate the
// case holds (out.temb, out.block0, ...) are compared. A `.gguf` model (the gguf family) may list
// `params.dequant_outputs`: weights under their official names, read back dequantized from the
// loaded model (`out.dequant.<name>`), to check dequantization on its own.
import { resolve } from 'node:path';

import type { NativeTensor, NativeTransformer } from '../../bindings/native.js';
import { WAN_TRANSFORMER_KEYMAP, mapKeys } from '../../model/keymap.js';
import { planTransformer } from '../../model/transformer-plan.js';
import type { TransformerPlan } from '../../model/types.js';
import { applyCaseLoras } from '../loras.js';
import type { CaseContext, KindOutputs } from '../types.js';

export async function runDitForward(ctx: CaseContext): Promise<KindOutputs> {
  const { manifest, inputs } = ctx;
  if (typeof manifest.model !== 'string') throw new Error('dit_forward needs "model" to name a folder');
  // The same cache entries as the pipeline kind (`transformer:<folder>` holds the native model).
  const plan = await ctx.cache.get(`transformer-plan:${manifest.model}`, async () => ({
    value: await planTransformer(resolve(ctx.root, manifest.model as string)),
    dispose: () => undefined,
  }));
  const model = await ctx.cache.get(`transformer:${manifest.model}`, async () => {
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
  for (const [key, t] of await readDequantOutputs(manifest.params.dequant_outputs, model as NativeTransformer, plan)) out.set(key, t);
  return out;
}

const DEQUANT_PREFIX = 'out.dequant.';

/** `out.dequant.<official name>` for each listed output: the loaded weight, widened by the backend,
 * in its torch shape (the model may hold a view, e.g. the 5-D patch embedding as a matrix). */
async function readDequantOutputs(list: unknown, model: NativeTransformer, plan: TransformerPlan): Promise<KindOutputs> {
  const out: KindOutputs = new Map();
  if (list === undefined) return out;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && x.startsWith(DEQUANT_PREFIX))) {
    throw new Error(`params.dequant_outputs must list "${DEQUANT_PREFIX}<name>" strings`);
  }
  for (const key of list as string[]) {
    const official = key.slice(DEQUANT_PREFIX.length);
    const canonical = mapKeys([official], WAN_TRANSFORMER_KEYMAP, 'original').tensors.get(official) ?? official;
    const ref = plan.tensors.find((t) => t.name === canonical);
    if (!ref) throw new Error(`${key}: "${official}" (${canonical}) is not a tensor of the model`);
    const t = await model.readWeight(canonical);
    out.set(key, { data: t.data, shape: ref.shape });
  }
  return out;
}
