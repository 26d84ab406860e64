// Config fields outside their plausible range are refused before any planning or native work, by a
// coded error naming the config.json, the field and the allowed range; the released Wan 2.1 / 2.2
// configs are all inside the ranges.
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../lib/errors.js';
import { parseTransformerConfig } from '../../lib/model/config.js';
import {
  IMAGE_ENCODER_LIMITS, type Limit, TEXT_ENCODER_LIMITS, TRANSFORMER_LIMITS, VAE_LIMITS, describeLimit,
} from '../../lib/model/config-limits.js';
import { parseImageEncoderConfig } from '../../lib/model/image-encoder-config.js';
import { parseTextEncoderConfig } from '../../lib/model/text-encoder-config.js';
import { parseVaeConfig } from '../../lib/model/vae-config.js';
import { planTransformer } from '../../lib/model/transformer-plan.js';
import { planTextEncoder } from '../../lib/model/text-encoder-plan.js';
import { planVae } from '../../lib/model/vae-plan.js';
import { schedulerFromDiffusersConfig } from '../../lib/pipeline/scheduler-config.js';
import { parseClipProcessorConfig } from '../../lib/image/processor-config.js';
import { cleanup, copyModel, expectModelError } from './model-helpers.js';

afterAll(cleanup);

// The released configs (diffusers Wan-AI/*-Diffusers and the official repos), as published.
const WAN21_T2V_14B = {
  _class_name: 'WanTransformer3DModel', added_kv_proj_dim: null, attention_head_dim: 128, cross_attn_norm: true, eps: 1e-6,
  ffn_dim: 13824, freq_dim: 256, image_dim: null, in_channels: 16, num_attention_heads: 40, num_layers: 40, out_channels: 16,
  patch_size: [1, 2, 2], qk_norm: 'rms_norm_across_heads', rope_max_seq_len: 1024, text_dim: 4096,
};
const WAN21_I2V_14B = { ...WAN21_T2V_14B, in_channels: 36, image_dim: 1280, added_kv_proj_dim: 5120 };
const WAN21_FLF2V_14B = { ...WAN21_I2V_14B, pos_embed_seq_len: 514 };
const WAN21_T2V_1_3B = { ...WAN21_T2V_14B, num_attention_heads: 12, ffn_dim: 8960, num_layers: 30 };
const WAN22_TI2V_5B = { ...WAN21_T2V_14B, num_attention_heads: 24, ffn_dim: 14336, num_layers: 30, in_channels: 48, out_channels: 48 };
const WAN_ORIGINAL_14B = {
  _class_name: 'WanModel', model_type: 'i2v', dim: 5120, num_heads: 40, in_dim: 36, out_dim: 16, ffn_dim: 13824, freq_dim: 256,
  text_len: 512, num_layers: 40, eps: 1e-6,
};
const UMT5_XXL = {
  model_type: 'umt5', vocab_size: 256384, d_model: 4096, d_kv: 64, d_ff: 10240, num_heads: 64, num_layers: 24,
  relative_attention_num_buckets: 32, relative_attention_max_distance: 128, layer_norm_epsilon: 1e-6, feed_forward_proj: 'gated-gelu',
  dense_act_fn: 'gelu_new', is_gated_act: true,
};
const UMT5_XXL_ORIGINAL = {
  _class: 'wan.modules.t5.T5Encoder', vocab: 256384, dim: 4096, dim_attn: 4096, dim_ffn: 10240, num_heads: 64, num_layers: 24,
  num_buckets: 32, shared_pos: false,
};
const WAN22_VAE = {
  _class_name: 'AutoencoderKLWan', base_dim: 160, decoder_base_dim: 256, z_dim: 48, dim_mult: [1, 2, 4, 4], num_res_blocks: 2,
  attn_scales: [], temperal_downsample: [false, true, true], is_residual: true, in_channels: 12, out_channels: 12, patch_size: 2,
};
const WAN21_VAE = { _class_name: 'AutoencoderKLWan', base_dim: 96, z_dim: 16, dim_mult: [1, 2, 4, 4], num_res_blocks: 2 };
const CLIP_VIT_H = {
  model_type: 'clip_vision_model', hidden_size: 1280, intermediate_size: 5120, num_attention_heads: 16, num_hidden_layers: 32,
  patch_size: 14, image_size: 224, num_channels: 3, layer_norm_eps: 1e-5, hidden_act: 'gelu',
};

const FILE = '/models/x/config.json';

/** The ModelFormatError a parse throws (or a failure when it does not throw one). */
function rejection(parse: () => unknown): ModelFormatError {
  try {
    parse();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelFormatError);
    return e as ModelFormatError;
  }
  throw new Error('expected a ModelFormatError, but the config was accepted');
}

describe('config field ranges', () => {
  it('accept every released Wan 2.1 / 2.2 config', () => {
    for (const c of [WAN21_T2V_14B, WAN21_I2V_14B, WAN21_FLF2V_14B, WAN21_T2V_1_3B, WAN22_TI2V_5B, WAN_ORIGINAL_14B]) {
      expect(() => parseTransformerConfig(c, FILE)).not.toThrow();
    }
    expect(parseTextEncoderConfig(UMT5_XXL, FILE).config.numLayers).toBe(24);
    expect(parseTextEncoderConfig(UMT5_XXL_ORIGINAL, FILE).config.dKv).toBe(64);
    expect(parseVaeConfig(WAN22_VAE, FILE).zDim).toBe(48);
    expect(parseVaeConfig(WAN21_VAE, FILE).zDim).toBe(16);
    expect(parseImageEncoderConfig(CLIP_VIT_H, FILE).numLayers).toBe(32);
  });

  // Each table's fields, as each config spells them: one past the maximum (and zero, or a negative
  // number for a real) is refused with the file, the field and the range in the message.
  const cases: Array<{ what: string; base: Record<string, unknown>; parse: (j: unknown) => unknown; fields: Record<string, Limit>; nullable?: string[] }> = [
    {
      what: 'transformer (diffusers)', base: WAN21_FLF2V_14B, parse: (j) => parseTransformerConfig(j, FILE, 'x/config.json'),
      fields: {
        num_layers: TRANSFORMER_LIMITS.num_layers, num_attention_heads: TRANSFORMER_LIMITS.num_heads, attention_head_dim: TRANSFORMER_LIMITS.head_dim,
        in_channels: TRANSFORMER_LIMITS.in_channels, out_channels: TRANSFORMER_LIMITS.out_channels, text_dim: TRANSFORMER_LIMITS.text_dim,
        freq_dim: TRANSFORMER_LIMITS.freq_dim, ffn_dim: TRANSFORMER_LIMITS.ffn_dim, image_dim: TRANSFORMER_LIMITS.image_dim,
        added_kv_proj_dim: TRANSFORMER_LIMITS.added_kv_proj_dim, rope_max_seq_len: TRANSFORMER_LIMITS.rope_max_seq_len,
        pos_embed_seq_len: TRANSFORMER_LIMITS.pos_embed_seq_len, eps: TRANSFORMER_LIMITS.eps,
      },
      nullable: ['out_channels', 'image_dim', 'added_kv_proj_dim', 'pos_embed_seq_len'],
    },
    {
      what: 'transformer (official)', base: WAN_ORIGINAL_14B, parse: (j) => parseTransformerConfig(j, FILE, 'x/config.json'),
      fields: {
        num_layers: TRANSFORMER_LIMITS.num_layers, dim: TRANSFORMER_LIMITS.dim, num_heads: TRANSFORMER_LIMITS.num_heads,
        in_dim: TRANSFORMER_LIMITS.in_channels, out_dim: TRANSFORMER_LIMITS.out_channels, ffn_dim: TRANSFORMER_LIMITS.ffn_dim,
        freq_dim: TRANSFORMER_LIMITS.freq_dim, text_len: TRANSFORMER_LIMITS.text_len, eps: TRANSFORMER_LIMITS.eps,
      },
    },
    {
      what: 'VAE', base: WAN22_VAE, parse: (j) => parseVaeConfig(j, FILE, 'x/config.json'),
      fields: {
        base_dim: VAE_LIMITS.base_dim, decoder_base_dim: VAE_LIMITS.decoder_base_dim, z_dim: VAE_LIMITS.z_dim,
        num_res_blocks: VAE_LIMITS.num_res_blocks, in_channels: VAE_LIMITS.in_channels, out_channels: VAE_LIMITS.out_channels,
        patch_size: VAE_LIMITS.patch_size,
      },
      nullable: ['decoder_base_dim', 'patch_size'],
    },
    {
      what: 'text encoder (HF)', base: UMT5_XXL, parse: (j) => parseTextEncoderConfig(j, FILE, 'x/config.json'),
      fields: {
        vocab_size: TEXT_ENCODER_LIMITS.vocab_size, d_model: TEXT_ENCODER_LIMITS.d_model, d_kv: TEXT_ENCODER_LIMITS.d_kv,
        d_ff: TEXT_ENCODER_LIMITS.d_ff, num_heads: TEXT_ENCODER_LIMITS.num_heads, num_layers: TEXT_ENCODER_LIMITS.num_layers,
        relative_attention_num_buckets: TEXT_ENCODER_LIMITS.relative_attention_num_buckets,
        relative_attention_max_distance: TEXT_ENCODER_LIMITS.relative_attention_max_distance,
        layer_norm_epsilon: TEXT_ENCODER_LIMITS.layer_norm_epsilon,
      },
    },
    {
      what: 'text encoder (official)', base: UMT5_XXL_ORIGINAL, parse: (j) => parseTextEncoderConfig(j, FILE, 'x/config.json'),
      fields: {
        vocab: TEXT_ENCODER_LIMITS.vocab_size, dim: TEXT_ENCODER_LIMITS.d_model, dim_attn: TEXT_ENCODER_LIMITS.dim_attn,
        dim_ffn: TEXT_ENCODER_LIMITS.d_ff, num_heads: TEXT_ENCODER_LIMITS.num_heads, num_layers: TEXT_ENCODER_LIMITS.num_layers,
        num_buckets: TEXT_ENCODER_LIMITS.relative_attention_num_buckets,
      },
    },
    {
      what: 'image encoder', base: CLIP_VIT_H, parse: (j) => parseImageEncoderConfig(j, FILE, 'x/config.json'),
      fields: Object.fromEntries(Object.entries(IMAGE_ENCODER_LIMITS)),
    },
  ];
  for (const { what, base, parse, fields, nullable } of cases) {
    it(`${what}: every numeric field is held to its range`, () => {
      for (const [field, limit] of Object.entries(fields)) {
        for (const bad of [limit.max + 1, limit.integer ? limit.min - 1 : -1, 1e9]) {
          if (!limit.integer && bad === 1e9 && limit.max >= 1e9) continue;
          const e = rejection(() => parse({ ...base, [field]: bad }));
          expect(e.code).toBe('E_MODEL_FORMAT');
          expect(e.file).toBe(FILE);
          const orNull = nullable?.includes(field) ? 'null or ' : '';
          expect(e.message).toBe(`x/config.json: field "${field}" must be ${orNull}${describeLimit(limit)} (got ${bad})`);
        }
      }
    });
  }

  it('the fields a VAE lists are bounded in length and entries', () => {
    expect(rejection(() => parseVaeConfig({ ...WAN22_VAE, dim_mult: [1, 2, 4, 4, 4, 4, 4, 4, 4] }, FILE, 'c.json')).message).toContain('field "dim_mult" must have 1 to 8 entries');
    expect(rejection(() => parseVaeConfig({ ...WAN22_VAE, dim_mult: [1, 2, 1e9, 4] }, FILE, 'c.json')).message).toContain('field "dim_mult.2" must be an integer from 1 to 64 (got 1000000000)');
    expect(rejection(() => parseVaeConfig({ ...WAN22_VAE, temperal_downsample: Array(9).fill(true) }, FILE, 'c.json')).message).toContain('field "temperal_downsample" must have at most 8 entries');
    expect(rejection(() => parseVaeConfig({ ...WAN22_VAE, latents_mean: Array(2000).fill(0) }, FILE, 'c.json')).message).toContain('field "latents_mean" must have at most 1024 entries');
    expect(rejection(() => parseTransformerConfig({ ...WAN21_T2V_14B, patch_size: [1, 2, 1e9] }, FILE, 'c.json')).message).toBe('c.json: field "patch_size.2" must be an integer from 1 to 64 (got 1000000000)');
  });

  it('fields each in range that multiply into an implausible model are refused by their product', () => {
    const wide = rejection(() => parseTransformerConfig({ ...WAN21_T2V_14B, num_attention_heads: 512, attention_head_dim: 1024 }, FILE, 'c.json'));
    expect(wide.message).toBe('c.json: fields num_attention_heads 512 x attention_head_dim 1024 = 524288, wider than the 65536 allowed');
    const big = rejection(() => parseTransformerConfig({ ...WAN21_T2V_14B, num_layers: 256, num_attention_heads: 256, attention_head_dim: 256, ffn_dim: 262144 }, FILE, 'c.json'));
    expect(big.message).toMatch(/^c\.json: fields num_layers 256, num_attention_heads 256 x attention_head_dim 256, ffn_dim 262144 together imply about [0-9.]+e\+13 parameters, more than the 1e\+11 a plausible Wan transformer has$/);
    expect(big.file).toBe(FILE);
    const orig = rejection(() => parseTransformerConfig({ ...WAN_ORIGINAL_14B, num_layers: 256, dim: 65536, num_heads: 512 }, FILE, 'c.json'));
    expect(orig.message).toContain('fields num_layers 256, dim 65536, ffn_dim 13824 together imply');
    const vae = rejection(() => parseVaeConfig({ ...WAN22_VAE, base_dim: 4096, decoder_base_dim: 4096, dim_mult: [64, 64, 64, 64], num_res_blocks: 64 }, FILE, 'c.json'));
    expect(vae.message).toContain('fields base_dim 4096, decoder_base_dim 4096, dim_mult [64, 64, 64, 64], num_res_blocks 64 together imply');
    const te = rejection(() => parseTextEncoderConfig({ ...UMT5_XXL, d_model: 65536, num_layers: 256, d_ff: 262144 }, FILE, 'c.json'));
    expect(te.message).toContain('vocab_size 256384, d_model 65536, num_layers 256, d_ff 262144');
    expect(te.message).toContain('a plausible Wan textEncoder has');
    const inner = rejection(() => parseTextEncoderConfig({ ...UMT5_XXL, num_heads: 1024, d_kv: 4096 }, FILE, 'c.json'));
    expect(inner.message).toBe('c.json: num_heads 1024 x d_kv 4096 is wider than the 65536 allowed');
    const clip = rejection(() => parseImageEncoderConfig({ ...CLIP_VIT_H, image_size: 8190, patch_size: 1 }, FILE, 'c.json'));
    expect(clip.message).toContain('tokens together imply');
  });

  it('preprocessor_config.json sizes and statistics are held to their ranges', () => {
    expect(parseClipProcessorConfig({ size: { shortest_edge: 224 }, crop_size: { height: 224, width: 224 } }, FILE).cropWidth).toBe(224);
    const big = rejection(() => parseClipProcessorConfig({ size: { shortest_edge: 1e9 } }, FILE, 'pp.json'));
    expect(big.message).toContain('pp.json: field "size');
    expect(big.message).toContain('an integer from 1 to 8192');
    expect(rejection(() => parseClipProcessorConfig({ crop_size: { height: 224, width: 1e9 } }, FILE, 'pp.json')).message).toContain('an integer from 1 to 8192');
    expect(rejection(() => parseClipProcessorConfig({ rescale_factor: 1e9 }, FILE, 'pp.json')).message).toBe('pp.json: field "rescale_factor" must be a number in (0, 1] (got 1000000000)');
    expect(rejection(() => parseClipProcessorConfig({ image_mean: [0, 1e9, 0] }, FILE, 'pp.json')).message).toBe('pp.json: field "image_mean.1" must be a number from -1000 to 1000 (got 1000000000)');
  });

  it('scheduler_config.json numbers are held to their ranges', () => {
    const r = schedulerFromDiffusersConfig('UniPCMultistepScheduler', { num_train_timesteps: 1e9 });
    expect(r).toEqual({ reason: 'UniPCMultistepScheduler config.num_train_timesteps: must be an integer from 1 to 100000, got 1000000000' });
    expect(schedulerFromDiffusersConfig('FlowMatchEulerDiscreteScheduler', { shift: 1e9 })).toEqual({
      reason: 'FlowMatchEulerDiscreteScheduler config.shift: must be a number in (0, 1000], got 1000000000',
    });
    expect('reason' in schedulerFromDiffusersConfig('UniPCMultistepScheduler', { disable_corrector: Array(20000).fill(0) })).toBe(true);
    expect('reason' in schedulerFromDiffusersConfig('UniPCMultistepScheduler', { disable_corrector: [1e12] })).toBe(true);
    expect(schedulerFromDiffusersConfig('UniPCMultistepScheduler', { num_train_timesteps: 1000, flow_shift: 5, disable_corrector: [0, 3] })).toMatchObject({ shift: 5 });
  });
});

/** Rewrite one field of a copied fixture's config.json. */
async function withConfig(model: string, edit: Record<string, unknown>, sub = ''): Promise<string> {
  const dir = join(await copyModel(model), sub);
  await chmod(dir, 0o755);
  const cfg = join(dir, 'config.json');
  await chmod(cfg, 0o644);
  await writeFile(cfg, JSON.stringify({ ...JSON.parse(await readFile(cfg, 'utf8')), ...edit }));
  return dir;
}

describe('planning refuses an out-of-range config at once', () => {
  // Before the ranges these ran for 70-95 s and then aborted Node (the transformer and the VAE), or
  // failed with an uncoded "Map maximum size exceeded" (the text encoder).
  it('transformer num_layers 1e9', async () => {
    const dir = await withConfig('dit-t2v-tiny', { num_layers: 1e9 });
    const t0 = performance.now();
    await expectModelError(planTransformer(dir), ['config.json: field "num_layers" must be an integer from 1 to 256 (got 1000000000)'], { file: join(dir, 'config.json') });
    expect(performance.now() - t0).toBeLessThan(2000);
  });
  it('VAE num_res_blocks 1e9', async () => {
    const dir = await withConfig('vae21-tiny', { num_res_blocks: 1e9 });
    await expectModelError(planVae(dir), ['config.json: field "num_res_blocks" must be an integer from 1 to 64 (got 1000000000)'], { file: join(dir, 'config.json') });
  });
  it('text encoder num_layers 1e9', async () => {
    const dir = await withConfig('tiny-umt5', { num_layers: 1e9 }, 'text_encoder');
    await expectModelError(planTextEncoder(dir), ['config.json: field "num_layers" must be an integer from 1 to 256 (got 1000000000)'], { file: join(dir, 'config.json') });
  });
});
