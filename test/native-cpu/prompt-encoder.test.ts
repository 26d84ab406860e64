// Prompts to embeddings through the tokenizer, the cache and the UMT5 encoder on the fixture model.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { loadAddon } from '../../lib/bindings/loader.js';
import type { NativeAddon } from '../../lib/bindings/native.js';
import { planTextEncoder } from '../../lib/model/text-encoder-plan.js';
import { PromptEncoder } from '../../lib/text/prompt-encoder.js';
import { UmT5Tokenizer } from '../../lib/text/tokenizer.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';

describe.runIf(haveFixtures)('PromptEncoder', () => {
  let addon: NativeAddon;
  let tokenizer: UmT5Tokenizer;
  const folder = join(fixturesRoot, 'models', 'tiny-umt5', 'text_encoder');
  const load = async () => {
    const plan = await planTextEncoder(folder);
    return addon.loadTextEncoder({ config: plan.config, tensors: plan.tensors });
  };

  beforeAll(async () => {
    addon = loadAddon('cpu').addon;
    tokenizer = await UmT5Tokenizer.load(join(fixturesRoot, 'models', 'tiny-umt5', 'tokenizer'));
  });

  it('zero-pads past each prompt and serves repeats from the cache', async () => {
    const enc = new PromptEncoder({ load, tokenizer, encoderKey: folder, maxLength: 24 });
    const first = await enc.encode(['a red fox in the snow', 'blurry, low quality']);
    expect(first.embeds.shape).toEqual([2, 24, 64]);
    expect(first.timings).toMatchObject({ cacheHits: 0, cacheMisses: 2, encoderLoads: 1 });
    const [len0] = first.seqLens;
    expect(len0).toBe(tokenizer.encode('a red fox in the snow').length);
    const row = (b: number, i: number) => first.embeds.data.subarray((b * 24 + i) * 64, (b * 24 + i + 1) * 64);
    expect(row(0, len0 - 1).some((v) => v !== 0)).toBe(true);
    expect(row(0, len0).every((v) => v === 0)).toBe(true);

    const again = await enc.encode(['blurry, low quality', 'a red fox in the snow']);
    expect(again.timings).toMatchObject({ cacheHits: 2, cacheMisses: 0, encoderLoads: 0 });
    expect(Array.from(again.embeds.data.subarray(0, 24 * 64))).toEqual(Array.from(first.embeds.data.subarray(24 * 64)));
    // The same text after cleaning is the same cache entry.
    const cleaned = await enc.encode(['  a red fox   in the snow ']);
    expect(cleaned.timings.cacheHits).toBe(1);
  });

  it('the embedding of a prompt does not depend on what it is batched with', async () => {
    const enc = new PromptEncoder({ load, tokenizer, encoderKey: folder, maxLength: 24 });
    const alone = await enc.encode(['a cat']);
    const fresh = new PromptEncoder({ load, tokenizer, encoderKey: folder, maxLength: 24 });
    const batched = await fresh.encode(['a much longer prompt about a dog running on a beach', 'a cat']);
    const a = alone.embeds.data;
    const b = batched.embeds.data.subarray(24 * 64);
    let num = 0;
    let den = 0;
    for (let i = 0; i < a.length; i++) {
      num += (a[i] - b[i]) ** 2;
      den += a[i] ** 2;
    }
    expect(Math.sqrt(num / den)).toBeLessThan(1e-6);
  });

  it('releases the encoder after encoding when asked, and reloads it on the next miss only', async () => {
    const enc = new PromptEncoder({ load, tokenizer, encoderKey: folder, maxLength: 16, releaseAfterEncode: true });
    await enc.encode(['first prompt']);
    expect(enc.loaded).toBe(false);
    expect((await enc.encode(['first prompt'])).timings.encoderLoads).toBe(0);
    expect((await enc.encode(['second prompt'])).timings.encoderLoads).toBe(1);
    expect(enc.loaded).toBe(false);
  });

  it('warns when a prompt is truncated, and bounds the cache', async () => {
    const enc = new PromptEncoder({ load, tokenizer, encoderKey: folder, maxLength: 8, cacheBytes: 8 * 64 * 4 });
    const r = await enc.encode(['one two three four five six seven eight nine ten eleven twelve']);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/truncated to 8/);
    expect(r.seqLens).toEqual([8]);
    await enc.encode(['another prompt that is long enough to fill']);
    expect(enc.cache.sizeBytes).toBeLessThanOrEqual(8 * 64 * 4);
    expect(enc.cache.size).toBe(1);
  });
});
