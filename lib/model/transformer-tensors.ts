// Every tensor WanTransformer3DModel has for a config, with its shape and the config fields that
// decide that shape (so a mismatch can point at the field to check).

import type { TransformerConfig } from './types.js';

export type ConfigField = keyof TransformerConfig | 'dim';

export interface TensorSpec {
  shape: number[];
  /** Config fields the shape follows from. */
  from: ConfigField[];
}

export function expectedTransformerTensorSpecs(c: TransformerConfig): Map<string, TensorSpec> {
  const dim = c.numHeads * c.headDim;
  const [pt, ph, pw] = c.patchSize;
  const specs = new Map<string, TensorSpec>();
  const add = (name: string, shape: number[], from: ConfigField[]) => specs.set(name, { shape, from });
  /** nn.Linear(inF, outF): weight [out, in], bias [out]. */
  const linear = (name: string, out: number, outF: ConfigField, inp: number, inF: ConfigField) => {
    add(`${name}.weight`, [out, inp], [outF, inF]);
    add(`${name}.bias`, [out], [outF]);
  };
  const norm = (name: string, n: number, f: ConfigField, bias = true) => {
    add(`${name}.weight`, [n], [f]);
    if (bias) add(`${name}.bias`, [n], [f]);
  };

  add('patch_embedding.weight', [dim, c.inChannels, pt, ph, pw], ['dim', 'inChannels', 'patchSize']);
  add('patch_embedding.bias', [dim], ['dim']);
  linear('condition_embedder.time_embedder.linear_1', dim, 'dim', c.freqDim, 'freqDim');
  linear('condition_embedder.time_embedder.linear_2', dim, 'dim', dim, 'dim');
  linear('condition_embedder.time_proj', 6 * dim, 'dim', dim, 'dim');
  linear('condition_embedder.text_embedder.linear_1', dim, 'dim', c.textDim, 'textDim');
  linear('condition_embedder.text_embedder.linear_2', dim, 'dim', dim, 'dim');
  if (c.imageDim !== null) {
    const img = 'condition_embedder.image_embedder';
    norm(`${img}.norm1`, c.imageDim, 'imageDim');
    linear(`${img}.ff.net.0.proj`, c.imageDim, 'imageDim', c.imageDim, 'imageDim');
    linear(`${img}.ff.net.2`, dim, 'dim', c.imageDim, 'imageDim');
    norm(`${img}.norm2`, dim, 'dim');
    if (c.posEmbedSeqLen !== null) add(`${img}.pos_embed`, [1, c.posEmbedSeqLen, c.imageDim], ['posEmbedSeqLen', 'imageDim']);
  }

  for (let i = 0; i < c.numLayers; i++) {
    const b = `blocks.${i}`;
    for (const attn of ['attn1', 'attn2']) {
      for (const p of ['to_q', 'to_k', 'to_v', 'to_out.0']) linear(`${b}.${attn}.${p}`, dim, 'dim', dim, 'dim');
      norm(`${b}.${attn}.norm_q`, dim, 'dim', false);
      norm(`${b}.${attn}.norm_k`, dim, 'dim', false);
    }
    if (c.addedKvProjDim !== null) {
      linear(`${b}.attn2.add_k_proj`, dim, 'dim', c.addedKvProjDim, 'addedKvProjDim');
      linear(`${b}.attn2.add_v_proj`, dim, 'dim', c.addedKvProjDim, 'addedKvProjDim');
      norm(`${b}.attn2.norm_added_k`, dim, 'dim', false);
    }
    if (c.crossAttnNorm) norm(`${b}.norm2`, dim, 'dim');
    linear(`${b}.ffn.net.0.proj`, c.ffnDim, 'ffnDim', dim, 'dim');
    linear(`${b}.ffn.net.2`, dim, 'dim', c.ffnDim, 'ffnDim');
    add(`${b}.scale_shift_table`, [1, 6, dim], ['dim']);
  }

  add('proj_out.weight', [c.outChannels * pt * ph * pw, dim], ['outChannels', 'patchSize', 'dim']);
  add('proj_out.bias', [c.outChannels * pt * ph * pw], ['outChannels', 'patchSize']);
  add('scale_shift_table', [1, 2, dim], ['dim']);
  return specs;
}

/** Canonical name -> shape of every tensor the diffusers model has for this config. */
export function expectedTransformerTensors(c: TransformerConfig): Map<string, number[]> {
  return new Map([...expectedTransformerTensorSpecs(c)].map(([k, v]) => [k, v.shape]));
}
