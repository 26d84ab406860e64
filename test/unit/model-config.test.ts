import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../lib/errors.js';
import { inferTransformerConfig, loadTransformerConfig, parseTransformerConfig } from '../../lib/model/config.js';
import { inspectModelFolder } from '../../lib/model/folder.js';
import { WAN_TRANSFORMER_KEYMAP, compileKeyTable, detectKeyLayout, mapKeys } from '../../lib/model/keymap.js';
import { readSafetensorsHeader } from '../../lib/model/safetensors.js';
import { expectedTransformerTensors } from '../../lib/model/transformer-tensors.js';
import type { TransformerConfig } from '../../lib/model/types.js';
import { detectVariant, expertFromName } from '../../lib/model/variant.js';
import { MODELS, cleanup, expectModelError, tmp } from './model-helpers.js';

afterAll(cleanup);

const TINY: TransformerConfig = {
  patchSize: [1, 2, 2], numHeads: 2, headDim: 24, inChannels: 16, outChannels: 16, textDim: 32, freqDim: 256,
  ffnDim: 64, numLayers: 2, crossAttnNorm: true, eps: 1e-6, imageDim: null, addedKvProjDim: null,
  ropeMaxSeqLen: 1024, posEmbedSeqLen: null,
};

const parseError = (json: unknown) => {
  try {
    parseTransformerConfig(json, '/m/config.json', 'config.json');
  } catch (e) {
    expect(e).toBeInstanceOf(ModelFormatError);
    expect((e as ModelFormatError).file).toBe('/m/config.json');
    return (e as Error).message;
  }
  throw new Error('expected a ModelFormatError');
};

describe('transformer config.json', () => {
  it('normalises the diffusers config of a fixture', async () => {
    const r = await loadTransformerConfig(join(MODELS, 'dit-t2v-tiny', 'config.json'));
    expect(r).toEqual({ config: TINY, style: 'diffusers', assumed: [] });
    const i2v = await loadTransformerConfig(join(MODELS, 'dit-i2v21-tiny', 'config.json'));
    expect(i2v.config).toEqual({ ...TINY, inChannels: 36, imageDim: 40, addedKvProjDim: 48 });
  });

  it('normalises a WanModel config, marking what it leaves unsaid', async () => {
    const r = await loadTransformerConfig(join(MODELS, 'dit-t2v-tiny-original', 'config.json'));
    expect(r.style).toBe('original');
    // The official configs carry no text_dim (4096 in every release); the weights settle it.
    expect(r.config).toEqual({ ...TINY, textDim: 4096 });
    expect(r.assumed).toEqual(['patchSize', 'textDim', 'crossAttnNorm']);
  });

  it('reads the released WanModel configs as the released variants', () => {
    const base = { _class_name: 'WanModel', eps: 1e-6, freq_dim: 256, text_len: 512, in_dim: 16, out_dim: 16 };
    const t2v13 = parseTransformerConfig({ ...base, model_type: 't2v', dim: 1536, ffn_dim: 8960, num_heads: 12, num_layers: 30 }, 'c').config;
    expect(detectVariant(t2v13).variant).toBe('wan2.1-t2v-1.3b');
    const t2v14 = parseTransformerConfig({ ...base, model_type: 't2v', dim: 5120, ffn_dim: 13824, num_heads: 40, num_layers: 40 }, 'c').config;
    expect(detectVariant(t2v14)).toEqual({
      variant: 'wan2.1-t2v-14b',
      description: 'wan2.1-t2v-14b (dim 5120 = 40 heads x 128, 40 layers, ffn 13824, in_channels 16)',
    });
    expect(detectVariant(t2v14, { pairedWith: true })).toMatchObject({ variant: 'wan2.2-t2v-a14b', expert: 'unknown' });
    expect(detectVariant(t2v14, { path: '/c/wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors' })).toMatchObject({
      variant: 'wan2.2-t2v-a14b', expert: 'high-noise',
    });
    const i2v = parseTransformerConfig({ ...base, model_type: 'i2v', in_dim: 36, dim: 5120, ffn_dim: 13824, num_heads: 40, num_layers: 40 }, 'c').config;
    expect(i2v).toMatchObject({ imageDim: 1280, addedKvProjDim: 5120, posEmbedSeqLen: null, headDim: 128 });
    expect(detectVariant(i2v).variant).toBe('wan2.1-i2v-14b');
    const flf = parseTransformerConfig({ ...base, model_type: 'flf2v', in_dim: 36, dim: 5120, ffn_dim: 13824, num_heads: 40, num_layers: 40 }, 'c').config;
    expect(flf.posEmbedSeqLen).toBe(514);
    expect(detectVariant(flf).variant).toBe('wan2.1-flf2v-14b');
    expect(detectVariant({ ...i2v, imageDim: null, addedKvProjDim: null }, { expert: 'low-noise' })).toMatchObject({
      variant: 'wan2.2-i2v-a14b', expert: 'low-noise',
    });
    const ti2v = parseTransformerConfig({ ...base, model_type: 'ti2v', in_dim: 48, out_dim: 48, dim: 3072, ffn_dim: 14336, num_heads: 24, num_layers: 30 }, 'c').config;
    expect(detectVariant(ti2v).variant).toBe('wan2.2-ti2v-5b');
    expect(detectVariant({ ...ti2v, inChannels: 20 }).description).toBe(
      'custom transformer following the unknown layout (dim 3072 = 24 heads x 128, 30 layers, ffn 14336, in_channels 20)',
    );
  });

  it('tells experts from file names', () => {
    expect(expertFromName('/x/wan2.2_i2v_low_noise_14B_fp16.safetensors')).toBe('low-noise');
    expect(expertFromName('/x/Wan2_2-T2V-A14B-HIGH-noise.safetensors')).toBe('high-noise');
    expect(expertFromName('/x/wan2.1_t2v_14B.safetensors')).toBeUndefined();
  });

  it('rejects malformed fields by name, saying what was expected', () => {
    const good = { _class_name: 'WanTransformer3DModel', num_attention_heads: 2, attention_head_dim: 24, in_channels: 16, out_channels: 16, text_dim: 32, freq_dim: 256, ffn_dim: 64, num_layers: 2 };
    expect(parseError({ ...good, qk_norm: 'layer_norm' })).toBe(
      'config.json: field "qk_norm" must be "rms_norm_across_heads" (the only query/key norm Wan uses) (got "layer_norm")',
    );
    expect(parseError({ ...good, _class_name: 'FluxTransformer2DModel' })).toBe(
      'config.json: field "_class_name" must be "WanTransformer3DModel" (got "FluxTransformer2DModel")',
    );
    expect(parseError({ ...good, num_layers: 'two' })).toBe('config.json: field "num_layers" must be an integer from 1 to 256 (got "two")');
    expect(parseError({ ...good, ffn_dim: undefined })).toBe('config.json: field "ffn_dim" must be an integer from 1 to 262144 (it is missing)');
    expect(parseError({ ...good, patch_size: [1, 2] })).toContain('config.json: field "patch_size" ');
    expect(parseError({ ...good, image_dim: -3 })).toBe('config.json: field "image_dim" must be null or an integer from 1 to 65536 (got -3)');
    expect(parseError([1])).toBe('config.json: expected a JSON object');
    expect(parseError({ _class_name: 'WanModel', model_type: 'vace', dim: 48, num_heads: 2, in_dim: 16, out_dim: 16, ffn_dim: 64, freq_dim: 256, num_layers: 2, text_len: 512 })).toBe(
      'config.json: field "model_type" must be one of "t2v", "i2v", "flf2v", "ti2v" (got "vace")',
    );
    expect(parseError({ _class_name: 'WanModel', model_type: 't2v', dim: 50, num_heads: 3, in_dim: 16, out_dim: 16, ffn_dim: 64, freq_dim: 256, num_layers: 2, text_len: 512 })).toBe(
      'config.json: field "dim" 50 must be divisible by field "num_heads" 3',
    );
  });

  it('reports a config.json that is not JSON', async () => {
    const dir = await tmp();
    await writeFile(join(dir, 'config.json'), '{"dim": ');
    await expectModelError(loadTransformerConfig(join(dir, 'config.json')), [`${join(dir, 'config.json')}: not valid JSON`]);
  });
});

describe('inferTransformerConfig', () => {
  const shapesOf = async (model: string) => {
    const h = await readSafetensorsHeader(join(MODELS, model, 'diffusion_pytorch_model.safetensors'));
    return new Map(h.tensors.map((t) => [t.name, t.shape]));
  };

  it('infers every field of an i2v-2.1 layout from the weights (head size 128)', () => {
    const config: TransformerConfig = {
      ...TINY, numHeads: 2, headDim: 128, inChannels: 36, imageDim: 40, addedKvProjDim: 256, posEmbedSeqLen: 514, numLayers: 3,
    };
    expect(inferTransformerConfig(expectedTransformerTensors(config))).toEqual(config);
    expect(inferTransformerConfig(expectedTransformerTensors({ ...config, crossAttnNorm: false }))).toEqual({ ...config, crossAttnNorm: false });
  });

  it('refuses a width that is not a multiple of 128', async () => {
    expect(() => inferTransformerConfig(new Map([['patch_embedding.weight', [48, 16, 1, 2, 2]]]), 'w.safetensors')).toThrow(
      'w.safetensors: dim 48 (from "patch_embedding.weight") is not a multiple of 128, the head size of every released Wan model; put a config.json beside the file',
    );
    expect((await shapesOf('dit-t2v-tiny')).size).toBe(69);
  });

  it('names a missing block', async () => {
    const shapes = await shapesOf('dit-t2v-head128');
    for (const [k, v] of [...shapes]) if (k.startsWith('blocks.0.')) shapes.set(k.replace('blocks.0.', 'blocks.2.'), v);
    let err: ModelFormatError | undefined;
    try {
      inferTransformerConfig(shapes, 'w.safetensors');
    } catch (e) {
      err = e as ModelFormatError;
    }
    expect(err).toBeInstanceOf(ModelFormatError);
    expect(err!.message).toBe('w.safetensors: block "blocks.1" is missing (blocks must run 0..2 without gaps)');
    expect(err!.tensor).toBe('blocks.1');
  });
});

describe('key layouts', () => {
  it('maps the original names and detects the layout', async () => {
    const h = await readSafetensorsHeader(join(MODELS, 'dit-t2v-tiny-original', 'model.safetensors'));
    const names = h.tensors.map((t) => t.name);
    expect(detectKeyLayout(names, WAN_TRANSFORMER_KEYMAP)).toBe('original');
    const m = mapKeys(names, WAN_TRANSFORMER_KEYMAP);
    expect(m.unmapped).toEqual([]);
    expect(m.tensors.get('blocks.1.cross_attn.norm_k.weight')).toBe('blocks.1.attn2.norm_k.weight');
    expect(m.tensors.get('text_embedding.2.bias')).toBe('condition_embedder.text_embedder.linear_2.bias');
    const d = await readSafetensorsHeader(join(MODELS, 'dit-i2v21-tiny', 'diffusion_pytorch_model.safetensors'));
    expect(detectKeyLayout(d.tensors.map((t) => t.name), WAN_TRANSFORMER_KEYMAP)).toBe('diffusers');
  });

  it('maps the image embedder, added K/V and ComfyUI extras', () => {
    const m = mapKeys(
      [
        'model.diffusion_model.img_emb.proj.0.weight', 'model.diffusion_model.img_emb.proj.3.bias', 'diffusion_model.img_emb.emb_pos',
        'model.blocks.7.cross_attn.k_img.weight', 'blocks.7.cross_attn.norm_k_img.weight', 'blocks.7.cross_attn.v_img.scale_weight',
        'blocks.7.cross_attn.v_img.scale_input', 'scaled_fp8', 'blocks.7.modulation', 'head.modulation', 'blocks.7.self_attn.qq.weight',
      ],
      WAN_TRANSFORMER_KEYMAP,
    );
    expect(m.layout).toBe('original');
    expect(Object.fromEntries(m.tensors)).toEqual({
      'model.diffusion_model.img_emb.proj.0.weight': 'condition_embedder.image_embedder.norm1.weight',
      'model.diffusion_model.img_emb.proj.3.bias': 'condition_embedder.image_embedder.ff.net.2.bias',
      'diffusion_model.img_emb.emb_pos': 'condition_embedder.image_embedder.pos_embed',
      'model.blocks.7.cross_attn.k_img.weight': 'blocks.7.attn2.add_k_proj.weight',
      'blocks.7.cross_attn.norm_k_img.weight': 'blocks.7.attn2.norm_added_k.weight',
      'blocks.7.modulation': 'blocks.7.scale_shift_table',
      'head.modulation': 'scale_shift_table',
    });
    expect(Object.fromEntries(m.scales)).toEqual({ 'blocks.7.attn2.add_v_proj.weight': 'blocks.7.cross_attn.v_img.scale_weight' });
    expect(m.consumed).toEqual(['blocks.7.cross_attn.v_img.scale_input', 'scaled_fp8']);
    expect(m.unmapped).toEqual(['blocks.7.self_attn.qq.weight']);
  });

  it('takes other tables (the mechanism the VAE and UMT5 will use)', () => {
    const table = compileKeyTable({
      name: 'toy-vae', prefixes: ['first_stage_model.'], markers: [],
      modules: [['decoder.upsamples.{n}.resample.1', 'decoder.up_blocks.{n}.upsampler.resample.1']],
      params: [['conv1.gamma', 'conv1.norm.gamma']],
    });
    const m = mapKeys(['first_stage_model.decoder.upsamples.3.resample.1.bias', 'conv1.gamma', 'x'], table);
    expect(Object.fromEntries(m.tensors)).toEqual({
      'first_stage_model.decoder.upsamples.3.resample.1.bias': 'decoder.up_blocks.3.upsampler.resample.1.bias',
      'conv1.gamma': 'conv1.norm.gamma',
    });
    expect(m.unmapped).toEqual(['x']);
  });
});

describe('inspectModelFolder', () => {
  it('reports components, boundary_ratio and expand_timesteps', async () => {
    const dir = await tmp();
    for (const c of ['transformer', 'vae', 'scheduler', 'tokenizer']) await mkdir(join(dir, c));
    await writeFile(
      join(dir, 'model_index.json'),
      JSON.stringify({
        _class_name: 'WanPipeline', _diffusers_version: '0.35.0', boundary_ratio: 0.875, expand_timesteps: false,
        scheduler: ['diffusers', 'UniPCMultistepScheduler'], text_encoder: ['transformers', 'UMT5EncoderModel'],
        tokenizer: ['transformers', 'T5TokenizerFast'], transformer: ['diffusers', 'WanTransformer3DModel'],
        transformer_2: ['diffusers', 'WanTransformer3DModel'], vae: ['diffusers', 'AutoencoderKLWan'],
        image_encoder: [null, null],
      }),
    );
    const info = await inspectModelFolder(dir);
    expect(info.pipelineClass).toBe('WanPipeline');
    expect(info.diffusersVersion).toBe('0.35.0');
    expect(info.boundaryRatio).toBe(0.875);
    expect(info.expandTimesteps).toBe(false);
    expect(info.present.sort()).toEqual(['scheduler', 'tokenizer', 'transformer', 'vae']);
    expect(info.missing.sort()).toEqual(['text_encoder', 'transformer_2']);
    expect(info.components.image_encoder).toEqual({ library: null, className: null, present: false });
    expect(info.components.vae).toEqual({ library: 'diffusers', className: 'AutoencoderKLWan', present: true });
  });

  it('names model_index.json when it is malformed or absent', async () => {
    const dir = await tmp();
    const file = join(dir, 'model_index.json');
    await expectModelError(inspectModelFolder(dir), [`${file}: missing (not a diffusers pipeline folder)`], { file });
    await writeFile(file, JSON.stringify({ _class_name: 'WanPipeline', boundary_ratio: 2 }));
    await expectModelError(inspectModelFolder(dir), [`${file}: field "boundary_ratio" must be null or a number in (0, 1]`]);
    await writeFile(file, JSON.stringify({ _class_name: 'WanPipeline', vae: ['diffusers'] }));
    await expectModelError(inspectModelFolder(dir), [`${file}: field "vae" must be [library, class] (or [null, null]) (got ["diffusers"])`]);
  });
});
