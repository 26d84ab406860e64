// A tiny diffusers-layout Wan pipeline folder with the real file layout: random transformer weights
// made here, the fixtures' tiny VAE, UMT5 encoder and tokenizer, and a UniPC scheduler config.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { writeSafetensors } from '../../lib/model/safetensors-writer.js';
import { expectedTransformerTensors } from '../../lib/model/transformer-tensors.js';
import type { TransformerConfig } from '../../lib/model/types.js';
import { fixturesRoot } from './paths.js';

/** inChannels 36 makes a Wan2.2 I2V-layout transformer (latents + 4 mask + 16 condition channels). */
/** twoExperts adds a transformer_2 (other random weights) and boundary_ratio 0.875: a Wan2.2 A14B-style pair. */
/** wan21I2V makes a Wan2.1 I2V pipeline: 36 channels, a CLIP image embedder (image_dim 64) and added K/V in
 * the transformer, the fixtures' tiny CLIP vision model as image_encoder/ (56x56 inputs, 17 tokens of 64) and
 * an image_processor/ config for it. */
/** flf2v (with wan21I2V) adds the FLF2V image position embedding (2 x 17 CLIP tokens): a Wan2.1 FLF2V pipeline. */
export async function makeTinyPipeline(opts: { schedulerExtra?: Record<string, unknown>; inChannels?: 16 | 36; twoExperts?: boolean; wan21I2V?: boolean; flf2v?: boolean } = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'wan-tiny-pipeline-'));
  const models = join(fixturesRoot, 'models');
  const config: TransformerConfig = {
    patchSize: [1, 2, 2], numHeads: 2, headDim: 24, inChannels: opts.wan21I2V ? 36 : opts.inChannels ?? 16, outChannels: 16, textDim: 64, freqDim: 256,
    ffnDim: 64, numLayers: 2, crossAttnNorm: true, eps: 1e-6, imageDim: opts.wan21I2V ? 64 : null, addedKvProjDim: opts.wan21I2V ? 48 : null,
    ropeMaxSeqLen: 1024, posEmbedSeqLen: opts.wan21I2V && opts.flf2v ? 34 : null,
  };
  mkdirSync(join(dir, 'transformer'));
  writeFileSync(
    join(dir, 'transformer', 'config.json'),
    JSON.stringify({
      _class_name: 'WanTransformer3DModel', patch_size: config.patchSize, num_attention_heads: config.numHeads,
      attention_head_dim: config.headDim, in_channels: config.inChannels, out_channels: 16, text_dim: 64, freq_dim: 256, ffn_dim: 64,
      num_layers: 2, cross_attn_norm: true, qk_norm: 'rms_norm_across_heads', eps: 1e-6, image_dim: config.imageDim,
      added_kv_proj_dim: config.addedKvProjDim, rope_max_seq_len: 1024, pos_embed_seq_len: config.posEmbedSeqLen,
    }),
  );
  let state = 12345;
  const rand = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31 - 0.5;
  };
  const tensors: Record<string, { dtype: string; shape: number[]; data: Float32Array }> = {};
  for (const [name, shape] of expectedTransformerTensors(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    tensors[name] = { dtype: 'F32', shape, data: Float32Array.from({ length: n }, () => rand() * 0.2) };
  }
  await writeSafetensors(join(dir, 'transformer', 'diffusion_pytorch_model.safetensors'), tensors);
  if (opts.twoExperts) {
    mkdirSync(join(dir, 'transformer_2'));
    cpSync(join(dir, 'transformer', 'config.json'), join(dir, 'transformer_2', 'config.json'));
    for (const t of Object.values(tensors)) t.data = t.data.map(() => rand() * 0.2);
    await writeSafetensors(join(dir, 'transformer_2', 'diffusion_pytorch_model.safetensors'), tensors);
  }
  cpSync(join(models, 'vae21-tiny'), join(dir, 'vae'), { recursive: true });
  if (opts.wan21I2V) {
    cpSync(join(models, 'clip-vision-tiny'), join(dir, 'image_encoder'), { recursive: true });
    mkdirSync(join(dir, 'image_processor'));
    writeFileSync(
      join(dir, 'image_processor', 'preprocessor_config.json'),
      JSON.stringify({
        image_processor_type: 'CLIPImageProcessor', do_resize: true, size: { shortest_edge: 56 }, resample: 3, do_center_crop: true,
        crop_size: { height: 56, width: 56 }, do_rescale: true, rescale_factor: 1 / 255, do_normalize: true, do_convert_rgb: true,
        image_mean: [0.48145466, 0.4578275, 0.40821073], image_std: [0.26862954, 0.26130258, 0.27577711],
      }),
    );
  }
  cpSync(join(models, 'tiny-umt5', 'text_encoder'), join(dir, 'text_encoder'), { recursive: true });
  cpSync(join(models, 'tiny-umt5', 'tokenizer'), join(dir, 'tokenizer'), { recursive: true });
  const unipc = JSON.parse(readFileSync(join(fixturesRoot, 'cases', 'scheduler', 'unipc-10steps-shift3', 'manifest.json'), 'utf8').replace(/-Infinity/g, 'null'));
  mkdirSync(join(dir, 'scheduler'));
  writeFileSync(join(dir, 'scheduler', 'scheduler_config.json'), JSON.stringify({ _class_name: 'UniPCMultistepScheduler', ...unipc.params.config, ...opts.schedulerExtra }));
  writeFileSync(
    join(dir, 'model_index.json'),
    JSON.stringify({
      _class_name: opts.wan21I2V ? 'WanImageToVideoPipeline' : 'WanPipeline', _diffusers_version: '0.35.0', scheduler: ['diffusers', 'UniPCMultistepScheduler'],
      text_encoder: ['transformers', 'UMT5EncoderModel'], tokenizer: ['transformers', 'T5TokenizerFast'],
      transformer: ['diffusers', 'WanTransformer3DModel'], vae: ['diffusers', 'AutoencoderKLWan'],
      ...(opts.twoExperts ? { transformer_2: ['diffusers', 'WanTransformer3DModel'], boundary_ratio: 0.875 } : {}),
      ...(opts.wan21I2V ? { image_encoder: ['transformers', 'CLIPVisionModel'], image_processor: ['transformers', 'CLIPImageProcessor'] } : {}),
    }),
  );
  return dir;
}
