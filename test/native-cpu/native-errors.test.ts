// The native layer's own checks: a plan that slipped past TypeScript (or was written by hand) still
// fails with a coded error naming the file and tensor, bad inputs are refused, and the process lives.
import { copyFileSync, mkdtempSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { loadAddon } from '../../lib/bindings/loader.js';
import type { NativeAddon, NativeTransformer } from '../../lib/bindings/native.js';
import { planTransformer } from '../../lib/model/transformer-plan.js';
import type { TransformerPlan } from '../../lib/model/types.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';

describe.runIf(haveFixtures)('native errors', () => {
  let addon: NativeAddon;
  let plan: TransformerPlan;

  beforeAll(async () => {
    addon = loadAddon('cpu').addon;
    plan = await planTransformer(join(fixturesRoot, 'models', 'dit-t2v-tiny'));
  });

  it('keeps the fp8 GEMM opt-in off on the CPU backend, and refuses a non-boolean', () => {
    expect(addon.setFp8Gemm(true)).toBe(false);
    expect(addon.info().gemm).not.toMatch(/fp8/);
    expect(addon.setFp8Gemm(false)).toBe(false);
    expect(() => (addon.setFp8Gemm as (on: unknown) => boolean)('yes')).toThrow(/setFp8Gemm: expected a boolean/);
  });

  it('reports a truncated file with the file and the tensor', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wan-native-'));
    const file = join(dir, 'cut.safetensors');
    copyFileSync(plan.tensors[0].file, file);
    const last = plan.tensors.reduce((a, b) => (a.offset > b.offset ? a : b));
    truncateSync(file, last.offset + 4);
    const tensors = plan.tensors.map((t) => ({ ...t, file }));
    await expect(addon.loadTransformer({ config: plan.config, tensors })).rejects.toMatchObject({
      code: 'E_MODEL_FORMAT',
      message: expect.stringMatching(new RegExp(`cut\\.safetensors.*"${last.name.replace(/\./g, '\\.')}".*truncated`)),
    });
  });

  it('reports a missing tensor and an unexpected one by name', async () => {
    const missing = plan.tensors.filter((t) => t.name !== 'proj_out.bias');
    await expect(addon.loadTransformer({ config: plan.config, tensors: missing })).rejects.toMatchObject({
      code: 'E_MODEL_FORMAT',
      message: expect.stringContaining('"proj_out.bias" is missing'),
    });
    const extra = [...plan.tensors, { ...plan.tensors[0], name: 'blocks.9.attn1.to_q.weight' }];
    await expect(addon.loadTransformer({ config: plan.config, tensors: extra })).rejects.toMatchObject({
      code: 'E_MODEL_FORMAT',
      message: expect.stringContaining('"blocks.9.attn1.to_q.weight"'),
    });
  });

  it('reports a shape that contradicts the config', async () => {
    const config = { ...plan.config, ffnDim: plan.config.ffnDim + 1 };
    await expect(addon.loadTransformer({ config, tensors: plan.tensors })).rejects.toMatchObject({
      code: 'E_MODEL_FORMAT',
      message: expect.stringMatching(/"blocks\.0\.ffn\.net\.0\.proj\.weight" has shape \[64,48\], expected \[65,48\]/),
    });
  });

  describe('forward', () => {
    let model: NativeTransformer;
    const c = { data: new Float32Array(1 * 3 * 32), shape: [1, 3, 32] };
    beforeAll(async () => {
      model = await addon.loadTransformer({ config: plan.config, tensors: plan.tensors });
    });

    it('refuses inputs of the wrong shape, size or kind with a named field', async () => {
      const x = { data: new Float32Array(16 * 2 * 4 * 4), shape: [1, 16, 2, 4, 4] };
      const t = { data: new Float32Array([500]), shape: [1] };
      await expect(model.forward({ hiddenStates: { ...x, shape: [1, 15, 2, 4, 4] }, timestep: t, encoderHiddenStates: c })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
      await expect(model.forward({ hiddenStates: { data: new Float32Array(3), shape: [1, 16, 2, 4, 4] }, timestep: t, encoderHiddenStates: c })).rejects.toThrow(/hiddenStates/);
      await expect(model.forward({ hiddenStates: { data: new Float32Array(16 * 2 * 4 * 5), shape: [1, 16, 2, 4, 5] }, timestep: t, encoderHiddenStates: c })).rejects.toThrow(/not divisible by the patch size/);
      await expect(model.forward({ hiddenStates: x, timestep: { data: new Float32Array([1, 2]), shape: [2] }, encoderHiddenStates: c })).rejects.toThrow(/timestep must have 1 values/);
      await expect(model.forward({ hiddenStates: x, timestep: { data: new Float32Array([NaN]), shape: [1] }, encoderHiddenStates: c })).rejects.toThrow(/finite/);
      await expect(model.forward({ hiddenStates: x, timestep: t, encoderHiddenStates: { data: new Float32Array(3 * 31), shape: [1, 3, 31] } })).rejects.toThrow(/encoder_hidden_states/);
      // still alive and correct afterwards
      const r = await model.forward({ hiddenStates: x, timestep: t, encoderHiddenStates: c });
      expect(r.sample.shape).toEqual([1, 16, 2, 4, 4]);
      expect(r.sample.data.every(Number.isFinite)).toBe(true);
    });

    it('refuses a forward after dispose', async () => {
      const m = await addon.loadTransformer({ config: plan.config, tensors: plan.tensors });
      m.dispose();
      const x = { data: new Float32Array(16 * 4 * 4), shape: [1, 16, 1, 4, 4] };
      await expect(m.forward({ hiddenStates: x, timestep: { data: new Float32Array([1]), shape: [1] }, encoderHiddenStates: c })).rejects.toThrow(/disposed/);
    });
  });
});
