// A tiny pipeline folder with random weights and the real diffusers layout of a Wan2.2 A14B-style
// two-expert model (model_index.json with boundary_ratio, scheduler/, transformer/ and transformer_2/,
// vae/, text_encoder/, tokenizer/), made locally so a new user sees the whole path run, the expert
// switch included, with nothing downloaded. The weights are random: the video is structured noise.
// The VAE's random weights are scaled so that its output keeps visible contrast (at small scales a
// random decoder maps every latent to nearly one grey, which looks broken rather than random).
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { writeSafetensors } from '../model/safetensors-writer.js';
import { expectedTextEncoderTensors } from '../model/text-encoder-tensors.js';
import { expectedTransformerTensors } from '../model/transformer-tensors.js';
import type { TextEncoderConfig, TransformerConfig } from '../model/types.js';
import { parseVaeConfig, WAN21_LATENTS_MEAN, WAN21_LATENTS_STD } from '../model/vae-config.js';
import { expectedVaeTensors } from '../model/vae-tensors.js';

/** Bumped when the folder's contents change, so a stale cache is rebuilt. */
const VERSION = 2;

const TEXT: TextEncoderConfig = { vocabSize: 64 + 3, dModel: 32, dKv: 8, numHeads: 4, dFf: 64, numLayers: 2, numBuckets: 32, maxDistance: 128, eps: 1e-6, gatedGelu: true };
const DIT: TransformerConfig = {
  patchSize: [1, 2, 2], numHeads: 2, headDim: 16, inChannels: 16, outChannels: 16, textDim: TEXT.dModel, freqDim: 256,
  ffnDim: 64, numLayers: 2, crossAttnNorm: true, eps: 1e-6, imageDim: null, addedKvProjDim: null, ropeMaxSeqLen: 1024, posEmbedSeqLen: null,
};
const VAE_JSON = {
  _class_name: 'AutoencoderKLWan', attn_scales: [], base_dim: 8, decoder_base_dim: null, dim_mult: [1, 2, 4, 4], dropout: 0.0,
  in_channels: 3, is_residual: false, latents_mean: WAN21_LATENTS_MEAN, latents_std: WAN21_LATENTS_STD, num_res_blocks: 1,
  out_channels: 3, patch_size: null, scale_factor_spatial: 8, scale_factor_temporal: 4, temperal_downsample: [false, true, true], z_dim: 16,
};

/** Spread of the VAE's random weights: 0.2 decodes everything to one grey (std ~1 level), 1.0 keeps contrast. */
const VAE_SCALE = 1.0;
/** Spread of the transformers' random weights: at 0.1 their flow output is ~0.16 of the latents' size and
 * every x0 prediction looks like the noise; at 1.0 the predictions, and the video, visibly move away from it. */
const DIT_SCALE = 1.0;

/** A deterministic stream of small values, so the demo video is the same on every machine. */
function randomTensors(shapes: Map<string, number[]>, seed: number, scale = 0.1) {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  const out: Record<string, { dtype: string; shape: number[]; data: Float32Array }> = {};
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    // Norm gains near 1 keep activations in range through the random layers.
    const isGain = /norm|layer_norm/.test(name) && name.endsWith('weight') && shape.length === 1;
    out[name] = { dtype: 'F32', shape, data: Float32Array.from({ length: n }, () => (isGain ? 1 + next() * 0.1 : next() * scale)) };
  }
  return out;
}

/** A Unigram tokenizer.json over lowercase letters, digits and a few marks (UMT5's structure, tiny vocabulary). */
function tinyTokenizerJson() {
  const pieces = ['▁', ...'abcdefghijklmnopqrstuvwxyz0123456789,.!?-\'"()'.split('')];
  const words = ['▁a', '▁the', '▁in', '▁of', '▁and', '▁on', '▁with', '▁red', '▁fox', '▁snow', '▁cat', '▁dog', '▁sea', '▁sky', '▁city', '▁night', '▁light', '▁slow', '▁camera'];
  const vocab = [
    ['<pad>', 0],
    ['</s>', 0],
    ['<unk>', 0],
    ...words.map((w, i) => [w, -2 - i * 0.01]),
    ...pieces.map((p, i) => [p, -5 - i * 0.01]),
  ].slice(0, TEXT.vocabSize);
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const metaspace = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<pad>'), special(1, '</s>'), special(2, '<unk>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Lowercase' }, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
    pre_tokenizer: metaspace,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
    },
    decoder: metaspace,
    model: { type: 'Unigram', unk_id: 2, vocab, byte_fallback: false },
  };
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

/** Makes the folder (once) and returns its path; an existing complete folder is reused. */
export async function ensureTinyModel(dir: string): Promise<string> {
  const stamp = join(dir, `.wan-video-demo-v${VERSION}`);
  if (existsSync(stamp)) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  for (const sub of ['scheduler', 'transformer', 'transformer_2', 'vae', 'text_encoder', 'tokenizer']) await mkdir(join(tmp, sub), { recursive: true });
  await writeFile(
    join(tmp, 'model_index.json'),
    json({
      _class_name: 'WanPipeline', _diffusers_version: '0.35.0', scheduler: ['diffusers', 'UniPCMultistepScheduler'],
      text_encoder: ['transformers', 'UMT5EncoderModel'], tokenizer: ['transformers', 'T5TokenizerFast'],
      transformer: ['diffusers', 'WanTransformer3DModel'], transformer_2: ['diffusers', 'WanTransformer3DModel'], vae: ['diffusers', 'AutoencoderKLWan'],
      boundary_ratio: 0.875, expand_timesteps: false,
    }),
  );
  await writeFile(
    join(tmp, 'scheduler', 'scheduler_config.json'),
    json({ _class_name: 'UniPCMultistepScheduler', num_train_timesteps: 1000, prediction_type: 'flow_prediction', use_flow_sigmas: true, flow_shift: 3.0, solver_order: 2, lower_order_final: true, final_sigmas_type: 'zero', solver_type: 'bh2', predict_x0: true, disable_corrector: [] }),
  );
  const ditConfig = json({
      _class_name: 'WanTransformer3DModel', patch_size: DIT.patchSize, num_attention_heads: DIT.numHeads, attention_head_dim: DIT.headDim,
      in_channels: DIT.inChannels, out_channels: DIT.outChannels, text_dim: DIT.textDim, freq_dim: DIT.freqDim, ffn_dim: DIT.ffnDim,
      num_layers: DIT.numLayers, cross_attn_norm: true, qk_norm: 'rms_norm_across_heads', eps: DIT.eps, image_dim: null,
      added_kv_proj_dim: null, rope_max_seq_len: 1024, pos_embed_seq_len: null,
  });
  // Two experts with different random weights: the high-noise one runs while t >= 875.
  for (const [sub, seed] of [['transformer', 1], ['transformer_2', 4]] as const) {
    await writeFile(join(tmp, sub, 'config.json'), ditConfig);
    await writeSafetensors(join(tmp, sub, 'diffusion_pytorch_model.safetensors'), randomTensors(expectedTransformerTensors(DIT), seed, DIT_SCALE));
  }
  await writeFile(join(tmp, 'vae', 'config.json'), json(VAE_JSON));
  const vaeConfig = parseVaeConfig(VAE_JSON, 'vae/config.json');
  await writeSafetensors(join(tmp, 'vae', 'diffusion_pytorch_model.safetensors'), randomTensors(expectedVaeTensors(vaeConfig), 2, VAE_SCALE));
  await writeFile(
    join(tmp, 'text_encoder', 'config.json'),
    json({
      architectures: ['UMT5EncoderModel'], model_type: 'umt5', vocab_size: TEXT.vocabSize, d_model: TEXT.dModel, d_kv: TEXT.dKv, d_ff: TEXT.dFf,
      num_heads: TEXT.numHeads, num_layers: TEXT.numLayers, relative_attention_num_buckets: 32, relative_attention_max_distance: 128,
      feed_forward_proj: 'gated-gelu', dense_act_fn: 'gelu_new', is_gated_act: true, layer_norm_epsilon: 1e-6,
    }),
  );
  await writeSafetensors(join(tmp, 'text_encoder', 'model.safetensors'), randomTensors(expectedTextEncoderTensors(TEXT), 3));
  await writeFile(join(tmp, 'tokenizer', 'tokenizer.json'), json(tinyTokenizerJson()));
  await writeFile(join(tmp, `.wan-video-demo-v${VERSION}`), 'random weights: not a real model\n');
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
  return dir;
}
