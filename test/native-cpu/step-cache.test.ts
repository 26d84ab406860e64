// The step caches in the native loop beyond the reference cases: the window, the consecutive-skip
// bound, the reset at the Wan2.2 expert switch, a never-skipping cache equal to no cache, and bad
// options refused by name.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { loadAddon } from '../../lib/bindings/loader.js';
import type { NativeDenoiseOptions, NativeStepCache } from '../../lib/bindings/native-pipeline.js';
import type { NativeAddon, NativeTransformer } from '../../lib/bindings/native.js';
import { planTransformer } from '../../lib/model/transformer-plan.js';
import { TEACACHE_FITS } from '../../lib/pipeline/step-cache.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';

describe.runIf(haveFixtures)('step caches in runDenoise', () => {
  let addon: NativeAddon;
  let high: NativeTransformer;
  let low: NativeTransformer;
  let base: NativeDenoiseOptions;

  const load = async (name: string) => {
    const plan = await planTransformer(join(fixturesRoot, 'models', name));
    return addon.loadTransformer({ config: plan.config, tensors: plan.tensors });
  };

  beforeAll(async () => {
    addon = loadAddon('cpu').addon;
    high = await load('dit-t2v-tiny');
    low = await load('dit-t2v-tiny-low-noise');
    const shape = [1, 16, 3, 4, 4];
    const text = (seed: number) => ({ data: addon.randn(seed, [1, 12, 32]), shape: [1, 12, 32] });
    base = {
      transformer: high,
      scheduler: { kind: 'unipc' },
      steps: 8,
      shift: 3,
      guidanceScale: 5,
      latents: { data: addon.randn(7, shape), shape },
      promptEmbeds: text(1),
      negativeEmbeds: text(2),
    };
  });

  const run = (cache: NativeStepCache | null, extra: Partial<NativeDenoiseOptions> = {}) => addon.runDenoise({ ...base, ...extra, cache });
  const teacache = (threshold: number, more: Partial<NativeStepCache> = {}): NativeStepCache => ({
    kind: 'teacache', threshold, coefficients: TEACACHE_FITS['t2v-1.3b'].e, ...more,
  });

  it('without a cache every call runs every block', async () => {
    const r = await run(null);
    expect(r.calls.computed).toEqual(Array(16).fill(true));
    expect(r.computed).toEqual(Array(8).fill(2));
  });

  it('a cache that never skips gives exactly the uncached latents', async () => {
    const plain = await run(null);
    for (const cache of [teacache(-1e30), { kind: 'fbcache', threshold: -1 } as NativeStepCache]) {
      const r = await run(cache);
      expect(r.calls.computed.every(Boolean)).toBe(true);
      expect(Buffer.from(r.latents.data.buffer).equals(Buffer.from(plain.latents.data.buffer))).toBe(true);
    }
  });

  it('skips inside the window only, per branch, and at most maxConsecutive in a row', async () => {
    for (const kind of ['teacache', 'fbcache'] as const) {
      const cache: NativeStepCache = kind === 'teacache' ? teacache(1e30, { startStep: 2, endStep: 7, maxConsecutive: 2 }) : { kind, threshold: 1e30, startStep: 2, endStep: 7, maxConsecutive: 2 };
      const r = await run(cache);
      // per step: cond, uncond; steps 0-1 and 7 compute; inside, two skips then a forced compute
      const perStep = [1, 1, 0, 0, 1, 0, 0, 1].map(Boolean);
      expect(r.calls.computed, kind).toEqual(perStep.flatMap((c) => [c, c]));
      expect(r.computed, kind).toEqual(perStep.map((c) => (c ? 2 : 0)));
      const plain = await run(null);
      // skipped blocks change the result (the cache is really used)
      expect(Buffer.from(r.latents.data.buffer).equals(Buffer.from(plain.latents.data.buffer)), kind).toBe(false);
    }
  });

  it('counts a window in calls as TeaCache counts ret_steps and cutoff_steps (two per guided step)', async () => {
    const r = await run(teacache(1e30, { startCall: 3, endCall: 13 }));
    const expected = Array.from({ length: 16 }, (_, k) => k < 3 || k >= 13);
    expect(r.calls.computed).toEqual(expected);
  });

  it('starts the low-noise expert with fresh state: its first call computes', async () => {
    const r = await run(teacache(1e30), { transformer2: low, boundaryTimestep: 875, guidanceScale2: 4 });
    const expert = r.experts;
    const switchStep = expert.indexOf(1);
    expect(switchStep).toBeGreaterThan(0);
    const calls = r.calls.computed;
    // the first step of each expert computes both branches; the rest is skipped (threshold huge)
    expect(calls.slice(0, 2)).toEqual([true, true]);
    expect(calls.slice(2 * switchStep, 2 * switchStep + 2)).toEqual([true, true]);
    expect(calls.slice(2, 2 * switchStep).every((c) => !c)).toBe(true);
    expect(calls.slice(2 * switchStep + 2).every((c) => !c)).toBe(true);
  });

  it('keeps separate state per branch: no guidance gives one call per step', async () => {
    const r = await run(teacache(1e30), { negativeEmbeds: null, guidanceScale: 1 });
    expect(r.calls.computed).toEqual([true, false, false, false, false, false, false, false]);
  });

  it('refuses bad cache options by name', async () => {
    await expect(run({ kind: 'bogus' } as unknown as NativeStepCache)).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: expect.stringContaining('cache.kind') });
    await expect(run({ kind: 'teacache', threshold: 0.1 })).rejects.toMatchObject({ message: expect.stringContaining('cache.coefficients') });
    await expect(run(teacache(0.1, { indicator: 'x' as 'e' }))).rejects.toMatchObject({ message: expect.stringContaining('cache.indicator') });
    await expect(run({ kind: 'fbcache', threshold: 0.1, startStep: 4, endStep: 2 })).rejects.toMatchObject({ message: expect.stringContaining('cache.endStep') });
    await expect(run({ kind: 'fbcache', threshold: Number.NaN })).rejects.toMatchObject({ message: expect.stringContaining('cache.threshold') });
  });
});
