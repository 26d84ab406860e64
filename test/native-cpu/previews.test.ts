// The loop's x0 predictions (previewSteps) and the decoded previews a generation returns with them.
// x0 = x_t - sigma_t * v; on the last step (sigma_next = 0) an Euler step lands exactly there, and
// on any Euler step x_next = x_t + (sigma_next - sigma_t) * v, so both are checked exactly.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { loadAddon } from '../../lib/bindings/loader.js';
import type { NativeDenoiseOptions } from '../../lib/bindings/native-pipeline.js';
import type { NativeAddon } from '../../lib/bindings/native.js';
import { planTransformer } from '../../lib/model/transformer-plan.js';
import { WanPipeline } from '../../lib/pipeline/wan-pipeline.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';
import { makeTinyPipeline } from '../helpers/tiny-pipeline.js';

const relL2 = (a: Float32Array, b: Float32Array) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
};

describe.runIf(haveFixtures)('previewSteps', () => {
  let addon: NativeAddon;
  let base: NativeDenoiseOptions;

  beforeAll(async () => {
    addon = loadAddon('cpu').addon;
    const plan = await planTransformer(join(fixturesRoot, 'models', 'dit-t2v-tiny'));
    const transformer = await addon.loadTransformer({ config: plan.config, tensors: plan.tensors });
    const shape = [1, 16, 3, 4, 4];
    const text = (seed: number) => ({ data: addon.randn(seed, [1, 12, 32]), shape: [1, 12, 32] });
    base = {
      transformer, scheduler: { kind: 'euler' }, steps: 4, shift: 3, guidanceScale: 5,
      latents: { data: addon.randn(7, shape), shape }, promptEmbeds: text(1), negativeEmbeds: text(2),
    };
  });

  it('keeps x0 = x_t - sigma_t * v at the asked steps, consistent with the Euler steps taken', async () => {
    const r = await addon.runDenoise({ ...base, previewSteps: [0, 3], recordSteps: true });
    expect(r.previews.map((p) => p.step)).toEqual([0, 3]);
    // The last step goes to sigma 0: the sample it lands on is its x0 prediction.
    expect(relL2(r.previews[1].latents.data, r.latents.data)).toBeLessThan(1e-6);
    // Step 0: v = (x_0 - x0) / sigma_0 and x_1 = x_0 + (sigma_1 - sigma_0) v.
    const { sigmas } = await addon.runScheduler({ kind: 'euler', steps: 4, shift: 3, sample: base.latents, modelOutputs: { data: new Float32Array(0), shape: [0, ...base.latents.shape] } });
    const n = base.latents.data.length;
    const x1 = r.latentsPerStep!.subarray(0, n);
    const expected = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const v = (base.latents.data[i] - r.previews[0].latents.data[i]) / sigmas[0];
      expected[i] = base.latents.data[i] + (sigmas[1] - sigmas[0]) * v;
    }
    expect(relL2(x1, expected)).toBeLessThan(1e-5);
  });

  it('returns no previews unless asked, and skips steps the loop does not reach', async () => {
    expect((await addon.runDenoise(base)).previews).toEqual([]);
    expect((await addon.runDenoise({ ...base, previewSteps: [9] })).previews).toEqual([]);
  });

  it('a generation with previewSteps returns the noise and each x0, decoded to one frame', async () => {
    const dir = await makeTinyPipeline();
    const pipe = await WanPipeline.load(dir, { device: 'cpu' });
    try {
      const result = await pipe.generate({ prompt: 'a cat', width: 64, height: 48, numFrames: 5, steps: 3, seed: 3n }, { previewSteps: [0, 2] }).result;
      expect(result.previews?.map((p) => [p.kind, p.step])).toEqual([['noise', -1], ['x0', 0], ['x0', 2]]);
      for (const p of result.previews!) expect([p.width, p.height, p.frame.length]).toEqual([64, 48, 64 * 48 * 3]);
      const plain = await pipe.generate({ prompt: 'a cat', width: 64, height: 48, numFrames: 5, steps: 3, seed: 3n }).result;
      expect(plain.previews).toBeUndefined();
    } finally {
      await pipe.dispose();
    }
  });
});
