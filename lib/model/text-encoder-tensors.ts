// Every tensor UMT5EncoderModel has for a config, with its shape and the config fields that decide
// that shape. Names are the Hugging Face ones; `shared.weight` is tied to the embedding and not listed.

import type { TextEncoderConfig } from './types.js';
import type { TextEncoderConfigField } from './text-encoder-config.js';

export interface TextEncoderTensorSpec {
  shape: number[];
  /** Config fields the shape follows from. */
  from: TextEncoderConfigField[];
}

export function expectedTextEncoderTensorSpecs(c: TextEncoderConfig): Map<string, TextEncoderTensorSpec> {
  const inner = c.numHeads * c.dKv;
  const specs = new Map<string, TextEncoderTensorSpec>();
  const add = (name: string, shape: number[], from: TextEncoderConfigField[]) => specs.set(name, { shape, from });

  add('encoder.embed_tokens.weight', [c.vocabSize, c.dModel], ['vocabSize', 'dModel']);
  for (let i = 0; i < c.numLayers; i++) {
    const attn = `encoder.block.${i}.layer.0`;
    add(`${attn}.layer_norm.weight`, [c.dModel], ['dModel']);
    for (const p of ['q', 'k', 'v']) add(`${attn}.SelfAttention.${p}.weight`, [inner, c.dModel], ['inner', 'dModel']);
    add(`${attn}.SelfAttention.o.weight`, [c.dModel, inner], ['dModel', 'inner']);
    add(`${attn}.SelfAttention.relative_attention_bias.weight`, [c.numBuckets, c.numHeads], ['numBuckets', 'numHeads']);
    const ff = `encoder.block.${i}.layer.1`;
    add(`${ff}.layer_norm.weight`, [c.dModel], ['dModel']);
    add(`${ff}.DenseReluDense.wi_0.weight`, [c.dFf, c.dModel], ['dFf', 'dModel']);
    add(`${ff}.DenseReluDense.wi_1.weight`, [c.dFf, c.dModel], ['dFf', 'dModel']);
    add(`${ff}.DenseReluDense.wo.weight`, [c.dModel, c.dFf], ['dModel', 'dFf']);
  }
  add('encoder.final_layer_norm.weight', [c.dModel], ['dModel']);
  return specs;
}

/** Canonical name -> shape of every tensor UMT5EncoderModel has for this config. */
export function expectedTextEncoderTensors(c: TextEncoderConfig): Map<string, number[]> {
  return new Map([...expectedTextEncoderTensorSpecs(c)].map(([k, v]) => [k, v.shape]));
}
