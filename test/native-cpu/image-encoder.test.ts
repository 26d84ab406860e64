// The CLIP vision encoder loaded from every layout it ships in: the fixtures' tiny model under the
// transformers names (with and without `vision_model.`), rewritten under open_clip's names (fused
// in_proj) and the official Wan names (fused to_qkv, [1, 1, D] class token) as a single file with
// no config.json beside it: every copy must reproduce the clip fixture case.
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { loadAddon } from '../../lib/bindings/loader.js';
import type { NativeAddon } from '../../lib/bindings/native.js';
import { relL2 } from '../../lib/conformance/compare.js';
import { planImageEncoder } from '../../lib/model/image-encoder-plan.js';
import { readSafetensorsF32 } from '../../lib/model/safetensors.js';
import { writeSafetensors } from '../../lib/model/safetensors-writer.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';

type Tensors = Record<string, { dtype: string; shape: number[]; data: Float32Array }>;

const cat = (...parts: Float32Array[]) => {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

describe.runIf(haveFixtures)('CLIP vision encoder layouts', () => {
  let addon: NativeAddon;
  let hf: Map<string, { data: Float32Array; shape: number[] }>;
  let pixels: { data: Float32Array; shape: number[] };
  let expected: { data: Float32Array; shape: number[] };
  const tmp = mkdtempSync(join(tmpdir(), 'wan-clip-layouts-'));
  const layers = 3;

  beforeAll(async () => {
    addon = loadAddon('cpu').addon;
    hf = await readSafetensorsF32(join(fixturesRoot, 'models', 'clip-vision-tiny', 'model.safetensors'));
    const c = await readSafetensorsF32(join(fixturesRoot, 'cases', 'clip', 'clip-vision-tiny-b2', 'tensors.safetensors'));
    pixels = c.get('in.pixel_values')!;
    expected = c.get('out.penultimate')!;
  });

  const get = (name: string) => hf.get(`vision_model.${name}`)!;
  const t = (shape: number[], data: Float32Array) => ({ dtype: 'F32', shape, data });

  async function penultimateOf(path: string): Promise<number> {
    const plan = await planImageEncoder(path);
    const enc = await addon.loadImageEncoder(plan);
    try {
      const { penultimate } = await enc.encode({ pixelValues: pixels });
      return relL2(penultimate.data, expected.data);
    } finally {
      enc.dispose();
    }
  }

  it('transformers names without the vision_model. prefix (as transformers 5 saves them)', async () => {
    const dir = join(tmp, 'noprefix');
    mkdirSync(dir);
    const out: Tensors = {};
    for (const [k, v] of hf) out[k.replace(/^vision_model\./, '')] = t(v.shape, v.data);
    await writeSafetensors(join(dir, 'model.safetensors'), out);
    copyFileSync(join(fixturesRoot, 'models', 'clip-vision-tiny', 'config.json'), join(dir, 'config.json'));
    expect(await penultimateOf(dir)).toBeLessThan(1e-6);
  });

  it('open_clip names with fused in_proj, and the official Wan names with fused to_qkv, one layout each', async () => {
    const open: Tensors = {};
    const wan: Tensors = {};
    const D = 64;
    open['visual.conv1.weight'] = t(get('embeddings.patch_embedding.weight').shape, get('embeddings.patch_embedding.weight').data);
    open['visual.class_embedding'] = t([D], get('embeddings.class_embedding').data);
    open['visual.positional_embedding'] = t([17, D], get('embeddings.position_embedding.weight').data);
    open['visual.proj'] = t([D, 32], new Float32Array(D * 32));
    wan['visual.patch_embedding.weight'] = open['visual.conv1.weight'];
    wan['visual.cls_embedding'] = t([1, 1, D], get('embeddings.class_embedding').data);
    wan['visual.pos_embedding'] = t([1, 17, D], get('embeddings.position_embedding.weight').data);
    wan['visual.head'] = t([D, 32], new Float32Array(D * 32));
    for (const [o, w, h] of [['ln_pre', 'pre_norm', 'pre_layrnorm'], ['ln_post', 'post_norm', 'post_layernorm']]) {
      for (const p of ['weight', 'bias']) {
        open[`visual.${o}.${p}`] = t([D], get(`${h}.${p}`).data);
        wan[`visual.${w}.${p}`] = t([D], get(`${h}.${p}`).data);
      }
    }
    for (let i = 0; i < layers; i++) {
      const l = (n: string) => get(`encoder.layers.${i}.${n}`);
      const ob = `visual.transformer.resblocks.${i}`;
      const wb = `visual.transformer.${i}`;
      const qkvW = cat(l('self_attn.q_proj.weight').data, l('self_attn.k_proj.weight').data, l('self_attn.v_proj.weight').data);
      const qkvB = cat(l('self_attn.q_proj.bias').data, l('self_attn.k_proj.bias').data, l('self_attn.v_proj.bias').data);
      open[`${ob}.attn.in_proj_weight`] = t([3 * D, D], qkvW);
      open[`${ob}.attn.in_proj_bias`] = t([3 * D], qkvB);
      wan[`${wb}.attn.to_qkv.weight`] = t([3 * D, D], qkvW);
      wan[`${wb}.attn.to_qkv.bias`] = t([3 * D], qkvB);
      for (const [hfName, oName, wName] of [
        ['self_attn.out_proj', 'attn.out_proj', 'attn.proj'], ['layer_norm1', 'ln_1', 'norm1'], ['layer_norm2', 'ln_2', 'norm2'],
        ['mlp.fc1', 'mlp.c_fc', 'mlp.0'], ['mlp.fc2', 'mlp.c_proj', 'mlp.2'],
      ]) {
        for (const p of ['weight', 'bias']) {
          const v = l(`${hfName}.${p}`);
          open[`${ob}.${oName}.${p}`] = t(v.shape, v.data);
          wan[`${wb}.${wName}.${p}`] = t(v.shape, v.data);
        }
      }
    }
    // A text tower beside the visual one (a whole-CLIP file) is ignored, not refused.
    open['logit_scale'] = t([], new Float32Array([1]));
    open['transformer.resblocks.0.ln_1.weight'] = t([D], new Float32Array(D));
    // No config.json beside the single files: the tiny width is not one the weights alone describe.
    const openFile = join(tmp, 'open_clip_visual.safetensors');
    const wanFile = join(tmp, 'wan_clip_visual.safetensors');
    await writeSafetensors(openFile, open);
    await writeSafetensors(wanFile, wan);
    await expect(planImageEncoder(openFile)).rejects.toMatchObject({ code: 'E_MODEL_FORMAT', message: expect.stringContaining('64-wide CLIP vision encoder needs a config.json') });
    // With the transformers config beside them, both load and match the fixture.
    for (const [name, file] of [['open', openFile], ['wan', wanFile]]) {
      const dir = join(tmp, `${name}-dir`);
      mkdirSync(dir);
      copyFileSync(file, join(dir, 'model.safetensors'));
      copyFileSync(join(fixturesRoot, 'models', 'clip-vision-tiny', 'config.json'), join(dir, 'config.json'));
      const plan = await planImageEncoder(dir);
      expect(plan.layout, name).toBe('original');
      expect(plan.ignored.length, name).toBeGreaterThan(0);
      expect(plan.tensors.find((x) => x.name === 'encoder.layers.1.self_attn.k_proj.weight')?.shape, name).toEqual([D, D]);
      expect(await penultimateOf(dir), name).toBeLessThan(1e-6);
    }
  });

  it('refuses a file whose fused q/k/v is not three equal blocks, naming the tensor', async () => {
    const bad: Tensors = { 'visual.transformer.0.attn.to_qkv.weight': t([100, 64], new Float32Array(6400)), 'visual.cls_embedding': t([1, 1, 64], new Float32Array(64)) };
    const file = join(tmp, 'bad.safetensors');
    await writeSafetensors(file, bad);
    await expect(planImageEncoder(file)).rejects.toMatchObject({ code: 'E_MODEL_FORMAT', tensor: 'visual.transformer.0.attn.to_qkv.weight' });
  });
});
