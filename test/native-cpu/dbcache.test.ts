// DBCache in the native loop beyond the reference cases (test/fixtures/cases/dbcache): thresholds
// that never or always reuse, the warmup and its interval, cache-dit's bounds on cached and
// continuous cached steps, the window, fresh state for the Wan2.2 low-noise expert, and bad settings
// refused by name. Runs on the repository's 10-block tiny transformers.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { loadAddon } from '../../lib/bindings/loader.js';
import type { NativeDenoiseOptions, NativeStepCache } from '../../lib/bindings/native-pipeline.js';
import type { NativeAddon, NativeTransformer } from '../../lib/bindings/native.js';
import { planTransformer } from '../../lib/model/transformer-plan.js';
import { repoRoot } from '../helpers/paths.js';

const models = join(repoRoot, 'test', 'fixtures', 'models');

describe('DBCache in runDenoise', () => {
  let addon: NativeAddon;
  let high: NativeTransformer;
  let low: NativeTransformer;
  let base: NativeDenoiseOptions;

  const load = async (name: string) => {
    const plan = await planTransformer(join(models, name));
    return addon.loadTransformer({ config: plan.config, tensors: plan.tensors });
  };

  beforeAll(async () => {
    addon = loadAddon('cpu').addon;
    high = await load('dit-t2v-tiny-10l');
    low = await load('dit-t2v-tiny-10l-low-noise');
    const shape = [1, 16, 3, 4, 4];
    const text = (seed: number) => ({ data: addon.randn(seed, [1, 12, 16]), shape: [1, 12, 16] });
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
  const db = (more: Partial<NativeStepCache>): NativeStepCache => ({ kind: 'dbcache', threshold: 1, fnBlocks: 2, bnBlocks: 2, warmupSteps: 0, ...more });
  /** One flag per step from per-call flags (cond and uncond decide alike in these runs). */
  const perStep = (calls: boolean[]) => calls.filter((_, i) => i % 2 === 0).map((c) => (c ? 1 : 0));
  const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));

  it('a threshold of 0 never reuses and gives exactly the uncached latents', async () => {
    const plain = await run(null);
    const r = await run(db({ threshold: 0 }));
    expect(r.calls.computed.every(Boolean)).toBe(true);
    expect(same(r.latents.data, plain.latents.data)).toBe(true);
  });

  it('a threshold of 1 reuses whenever there is a residual; cached calls change the result', async () => {
    const plain = await run(null);
    const r = await run(db({}));
    expect(perStep(r.calls.computed)).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(r.calls.computed[1]).toBe(true); // the uncond branch has its own first residual
    expect(r.computed).toEqual([2, 0, 0, 0, 0, 0, 0, 0]);
    expect(same(r.latents.data, plain.latents.data)).toBe(false);
  });

  it('the warmup computes steps 0..warmupSteps-1 that are multiples of warmupInterval (cache-dit defaults: 8 and 1)', async () => {
    expect(perStep((await run(db({ warmupSteps: 3 }))).calls.computed)).toEqual([1, 1, 1, 0, 0, 0, 0, 0]);
    expect(perStep((await run(db({ warmupSteps: 6, warmupInterval: 3 }))).calls.computed)).toEqual([1, 0, 0, 1, 0, 0, 0, 0]);
    const defaults = await run({ kind: 'dbcache', threshold: 1 });
    expect(perStep(defaults.calls.computed)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('bounds cached steps per branch (maxCachedSteps) and continuous ones as cache-dit counts them (maxConsecutive)', async () => {
    expect(perStep((await run(db({ maxCachedSteps: 3 }))).calls.computed)).toEqual([1, 0, 0, 0, 1, 1, 1, 1]);
    // counter: step 1 -> 1, 2 -> 2, step 3 forced (counter cleared), 4 not right after a cached step -> 0,
    // 5 right after one -> 0 + 2, step 6 forced, 7 -> 0
    expect(perStep((await run(db({ maxConsecutive: 2 }))).calls.computed)).toEqual([1, 0, 0, 1, 0, 0, 1, 0]);
  });

  it('reuses only inside the window (startStep, endStep)', async () => {
    expect(perStep((await run(db({ startStep: 3, endStep: 6 }))).calls.computed)).toEqual([1, 1, 1, 0, 0, 0, 1, 1]);
  });

  it('starts the low-noise expert with its own warmup and residuals', async () => {
    const r = await run(db({ warmupSteps: 2 }), { transformer2: low, boundaryTimestep: 875, guidanceScale2: 4 });
    const s = r.experts.indexOf(1);
    expect(s).toBeGreaterThan(2);
    const steps = perStep(r.calls.computed);
    expect(steps.slice(0, s)).toEqual([1, 1, ...Array(s - 2).fill(0)]);
    expect(steps.slice(s)).toEqual([1, 1, ...Array(8 - s - 2).fill(0)]);
  });

  it('refuses bad settings by name', async () => {
    const bad = async (cache: Partial<NativeStepCache>, field: string) =>
      expect(run(db(cache))).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: expect.stringContaining(field) });
    await bad({ fnBlocks: 0 }, 'cache.fnBlocks');
    await bad({ bnBlocks: -1 }, 'cache.bnBlocks');
    await bad({ warmupSteps: -1 }, 'cache.warmupSteps');
    await bad({ warmupInterval: 0 }, 'cache.warmupInterval');
    await bad({ maxCachedSteps: -2 }, 'cache.maxCachedSteps');
    await bad({ fnBlocks: 11, bnBlocks: 0 }, 'must each be at most the transformer\'s 10 blocks');
    await bad({ fnBlocks: 1, bnBlocks: 11 }, 'must each be at most the transformer\'s 10 blocks');
    // the same transformer still runs afterwards
    expect((await run(db({ fnBlocks: 8, bnBlocks: 2 }))).calls.computed.length).toBe(16);
  });
});
