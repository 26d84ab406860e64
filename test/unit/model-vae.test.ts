// The VAE's checkpoint planning: both config styles (diffusers config.json, inferred from a single
// file), the original Wan key layout of both VAEs, the tensor list a config implies, and the errors.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { WAN_VAE_DEFAULT_STRUCTURE, compileKeyTable, detectWanVaeKeyStructure, mapKeys, wanVaeKeys } from '../../lib/model/keymap.js';
import { readSafetensorsHeader } from '../../lib/model/safetensors.js';
import {
  WAN21_LATENTS_MEAN, WAN22_LATENTS_STD, inferVaeConfig, loadVaeConfig, parseVaeConfig, vaeVersion,
} from '../../lib/model/vae-config.js';
import { planVae } from '../../lib/model/vae-plan.js';
import { expectedVaeTensors } from '../../lib/model/vae-tensors.js';
import * as model from '../../lib/model/index.js';
import { MODELS, cleanup, copyModel, dropTensor, expectModelError, mutateFile, tensorOf, tmp } from './model-helpers.js';

afterAll(cleanup);

const VAE21 = join(MODELS, 'vae21-tiny');
const VAE22 = join(MODELS, 'vae22-tiny');
const VAE21_ORIGINAL = join(MODELS, 'vae21-tiny-original');
const WEIGHTS = 'diffusion_pytorch_model.safetensors';

async function shapesOf(file: string): Promise<Map<string, number[]>> {
  const h = await readSafetensorsHeader(file);
  return new Map(h.tensors.map((t) => [t.name, t.shape]));
}

/** Diffusers names of a Wan2.2 VAE -> the official ones, by reading its (fully spelled-out) table backwards. */
function toOriginalNames(names: string[]): Map<string, string> {
  const table = wanVaeKeys({ ...WAN_VAE_DEFAULT_STRUCTURE, residual: true });
  const back = new Map<string, string>();
  for (const [from, to] of table.modules) for (const p of ['weight', 'bias']) back.set(`${to}.${p}`, `${from}.${p}`);
  for (const [from, to] of table.params) back.set(to, from);
  return new Map(names.map((n) => [n, back.get(n) ?? n]));
}

describe('VAE config', () => {
  it('reads the diffusers config of both VAEs', async () => {
    const c21 = await loadVaeConfig(join(VAE21, 'config.json'));
    expect(c21).toMatchObject({
      baseDim: 8, decoderBaseDim: 8, zDim: 16, dimMult: [1, 2, 4, 4], numResBlocks: 2, temperalDownsample: [false, true, true],
      isResidual: false, inChannels: 3, outChannels: 3, patchSize: 1, scaleFactorSpatial: 8, scaleFactorTemporal: 4,
    });
    expect(c21.latentsMean).toEqual(WAN21_LATENTS_MEAN);
    expect(vaeVersion(c21)).toBe('wan2.1');
    const c22 = await loadVaeConfig(join(VAE22, 'config.json'));
    expect(c22).toMatchObject({
      baseDim: 8, decoderBaseDim: 12, zDim: 48, isResidual: true, inChannels: 12, outChannels: 12, patchSize: 2,
      scaleFactorSpatial: 16, scaleFactorTemporal: 4,
    });
    expect(c22.latentsStd).toHaveLength(48);
    expect(vaeVersion(c22)).toBe('wan2.2');
  });

  it('fills what a config leaves out as diffusers does, latent statistics from the known VAE of that width', () => {
    const c = parseVaeConfig({ _class_name: 'AutoencoderKLWan', z_dim: 48 }, 'config.json');
    expect(c).toMatchObject({ baseDim: 96, decoderBaseDim: 96, dimMult: [1, 2, 4, 4], numResBlocks: 2, patchSize: 1 });
    expect(c.latentsStd).toEqual(WAN22_LATENTS_STD);
    expect(parseVaeConfig({ z_dim: 8 }, 'config.json').latentsMean).toBeNull();
  });

  it('names the field that is wrong', () => {
    expect(() => parseVaeConfig({ attn_scales: [0.5] }, 'c.json')).toThrow(/attn_scales/);
    expect(() => parseVaeConfig({ dim_mult: [1, 2, 4, 4], temperal_downsample: [true] }, 'c.json')).toThrow(/temperal_downsample/);
    expect(() => parseVaeConfig({ z_dim: 16, latents_mean: [1, 2] }, 'c.json')).toThrow(/latents_mean" has 2 values; z_dim is 16/);
    expect(() => parseVaeConfig({ in_channels: 10, patch_size: 2 }, 'c.json')).toThrow(/in_channels/);
    expect(() => parseVaeConfig({ base_dim: 0 }, 'c.json')).toThrow(/base_dim/);
  });

  it('infers the same configuration from the weights alone', async () => {
    for (const dir of [VAE21, VAE22]) {
      const parsed = await loadVaeConfig(join(dir, 'config.json'));
      const inferred = inferVaeConfig(await shapesOf(join(dir, WEIGHTS)));
      const { latentsMean: _m, latentsStd: _s, ...sizes } = parsed;
      expect(inferred).toMatchObject(sizes);
    }
  });

  it('lists exactly the tensors of both fixture VAEs', async () => {
    for (const dir of [VAE21, VAE22]) {
      const expected = expectedVaeTensors(await loadVaeConfig(join(dir, 'config.json')));
      expect(new Map([...expected].sort())).toEqual(new Map([...(await shapesOf(join(dir, WEIGHTS)))].sort()));
    }
  });

  it('lists one half for parts', async () => {
    const c = await loadVaeConfig(join(VAE21, 'config.json'));
    const dec = [...expectedVaeTensors(c, 'decoder').keys()];
    const enc = [...expectedVaeTensors(c, 'encoder').keys()];
    expect(dec.every((n) => n.startsWith('decoder.') || n.startsWith('post_quant_conv.'))).toBe(true);
    expect(enc.every((n) => n.startsWith('encoder.') || n.startsWith('quant_conv.'))).toBe(true);
    expect(dec.length + enc.length).toBe(expectedVaeTensors(c).size);
  });
});

describe('VAE key layout', () => {
  it('maps the official Wan2.1 names onto the diffusers ones', async () => {
    const original = await shapesOf(join(VAE21_ORIGINAL, 'model.safetensors'));
    const structure = detectWanVaeKeyStructure(original.keys());
    expect(structure).toEqual({ residual: false, levels: 4, numResBlocks: 2 });
    const m = mapKeys(original.keys(), compileKeyTable(wanVaeKeys(structure!)));
    expect(m.layout).toBe('original');
    expect(m.unmapped).toEqual([]);
    const mapped = new Map([...m.tensors].map(([stored, canonical]) => [canonical, original.get(stored)!]));
    expect(new Map([...mapped].sort())).toEqual(new Map([...(await shapesOf(join(VAE21, WEIGHTS)))].sort()));
    expect(m.tensors.get('decoder.upsamples.3.time_conv.weight')).toBe('decoder.up_blocks.0.upsamplers.0.time_conv.weight');
    expect(m.tensors.get('decoder.middle.1.norm.gamma')).toBe('decoder.mid_block.attentions.0.norm.gamma');
    expect(m.tensors.get('conv2.weight')).toBe('post_quant_conv.weight');
  });

  it('maps the official Wan2.2 names (nested per level) onto the diffusers ones', async () => {
    const diffusers = await shapesOf(join(VAE22, WEIGHTS));
    const names = toOriginalNames([...diffusers.keys()]);
    expect(names.size).toBe(diffusers.size);
    expect(names.get('encoder.down_blocks.1.downsampler.time_conv.weight')).toBe('encoder.downsamples.1.downsamples.2.time_conv.weight');
    expect(names.get('decoder.up_blocks.2.resnets.0.conv_shortcut.bias')).toBe('decoder.upsamples.2.upsamples.0.shortcut.bias');
    expect(names.get('decoder.up_blocks.0.upsampler.resample.1.weight')).toBe('decoder.upsamples.0.upsamples.3.resample.1.weight');
    const stored = [...names.values()];
    const structure = detectWanVaeKeyStructure(stored);
    expect(structure).toEqual({ residual: true, levels: 4, numResBlocks: 2 });
    const m = mapKeys(stored, compileKeyTable(wanVaeKeys(structure!)));
    expect(m.layout).toBe('original');
    expect(m.unmapped).toEqual([]);
    for (const [canonical, original] of names) expect(m.tensors.get(original)).toBe(canonical);
  });

  it('says diffusers names need no numbering', async () => {
    expect(detectWanVaeKeyStructure((await shapesOf(join(VAE21, WEIGHTS))).keys())).toBeNull();
  });
});

describe('planVae', () => {
  it('plans a diffusers vae folder', async () => {
    const plan = await planVae(VAE21);
    expect(plan).toMatchObject({ kind: 'vae', layout: 'diffusers', version: 'wan2.1', parts: 'both', dtypes: ['F32'] });
    expect(plan.tensors).toHaveLength(expectedVaeTensors(plan.config).size);
    expect(plan.tensors.every((t) => t.name === t.storedName)).toBe(true);
  });

  it('plans the official names from a folder with the weights alone, the configuration from the weights', async () => {
    const plan = await planVae(VAE21_ORIGINAL);
    const reference = await planVae(VAE21);
    expect(plan.layout).toBe('original');
    const { latentsMean: _a, latentsStd: _b, ...sizes } = reference.config;
    expect(plan.config).toMatchObject(sizes);
    expect(plan.config.latentsMean).toEqual(WAN21_LATENTS_MEAN);
    const shapes = (p: typeof plan) => new Map(p.tensors.map((t) => [t.name, t.shape]));
    expect(shapes(plan)).toEqual(shapes(reference));
    expect(plan.tensors.find((t) => t.name === 'quant_conv.weight')?.storedName).toBe('conv1.weight');
  });

  it('plans a single file given directly, and a pipeline root through its vae/', async () => {
    const file = await planVae(join(VAE21_ORIGINAL, 'model.safetensors'));
    expect(file.layout).toBe('original');
    const root = await tmp();
    await copyModel('vae22-tiny', root, 'vae');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(root, 'model_index.json'), JSON.stringify({ _class_name: 'WanPipeline', vae: ['diffusers', 'AutoencoderKLWan'] }));
    const plan = await planVae(root);
    expect(plan.version).toBe('wan2.2');
    expect(plan.source).toBe(join(root, 'vae'));
  });

  it('plans one half', async () => {
    const plan = await planVae(VAE22, { parts: 'decoder' });
    expect(plan.parts).toBe('decoder');
    expect(plan.tensors.some((t) => t.name.startsWith('encoder.'))).toBe(false);
    expect(plan.tensors.some((t) => t.name === 'post_quant_conv.weight')).toBe(true);
  });

  it('names a missing tensor, a wrong shape and a config that does not fit', async () => {
    const dir = await copyModel('vae21-tiny');
    const file = join(dir, WEIGHTS);
    await mutateFile(file, (h, data) => dropTensor(h, data, 'decoder.conv_out.bias'));
    await expectModelError(planVae(dir), ['missing tensor(s)', 'decoder.conv_out.bias'], { tensor: 'decoder.conv_out.bias' });

    const dir2 = await copyModel('vae21-tiny');
    await mutateFile(join(dir2, WEIGHTS), (h) => {
      tensorOf(h, 'decoder.norm_out.gamma').shape = [4, 2, 1, 1];
    });
    await expectModelError(planVae(dir2), ['decoder.norm_out.gamma', '[4,2,1,1]', 'decoder_base_dim 8', 'implies [8,1,1,1]']);

    const dir3 = await copyModel('vae21-tiny');
    const { writeFile, readFile } = await import('node:fs/promises');
    const cfg = JSON.parse(await readFile(join(dir3, 'config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir3, 'config.json'), JSON.stringify({ ...cfg, z_dim: 8, latents_mean: null, latents_std: null }));
    await expectModelError(planVae(dir3), ['config.json', 'z_dim 8']);
  });

  it('is exported from the model index', () => {
    expect(model.planVae).toBe(planVae);
    expect(typeof model.wanVaeKeys).toBe('function');
  });
});

